// Samples the CPU of a local edge worker through workerd's DevTools inspector and says where
// it went: per isolate (the herdgate worker, and Miniflare's own entry worker that every local
// request passes first), per kind of code (the worker's wasm, its JavaScript glue, the
// runtime's built-ins, garbage collection), and per step of the buyer's path (the handler or
// Durable Object whose frame is on the stack).
//
//   HERDGATE_EDGE_INSPECTOR_PORT=9229 target/release/herd local ... &   # or scripts/profile-edge.sh
//   node scripts/profile-edge.mjs --port 9229 [--out FILE.json] [--window 5]
//
// It records until the inspector goes away (the edge stopped) or SIGINT/SIGTERM, in windows of
// `--window` seconds (a window cut short by the edge stopping is lost), then prints a summary
// and, with --out, writes it as JSON beside the raw profiles (FILE.json → FILE.<isolate>.cpuprofile,
// which Chrome's DevTools open).
import fs from "node:fs";
import WebSocket from "ws";

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = Number(flag("--port", "9229"));
const out = flag("--out");
const windowMs = Number(flag("--window", "5")) * 1000;
const targets = ["core:user:"];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForInspector() {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/json/list`);
      const list = await r.json();
      if (targets.every((t) => list.some((x) => x.id === t))) return;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  throw new Error(`no inspector on 127.0.0.1:${port} after 120 s`);
}

/** One inspector session: `send` a CDP method, get its result. */
function session(id) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/${id}`);
    let next = 1;
    const waiting = new Map();
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.id && waiting.has(msg.id)) {
        const { ok, fail } = waiting.get(msg.id);
        waiting.delete(msg.id);
        if (msg.error) fail(new Error(JSON.stringify(msg.error)));
        else ok(msg.result);
      }
    });
    const closed = new Promise((r) => ws.on("close", r));
    ws.on("close", () => {
      for (const { fail } of waiting.values()) fail(new Error("inspector closed"));
      waiting.clear();
    });
    ws.on("error", reject);
    ws.on("open", () =>
      resolve({
        closed,
        send(method, params = {}) {
          return new Promise((ok, fail) => {
            const n = next++;
            waiting.set(n, { ok, fail });
            ws.send(JSON.stringify({ id: n, method, params }));
          });
        },
        close: () => ws.close(),
      }),
    );
  });
}

/** Accumulated samples of one isolate: self samples per (kind, step, function). */
class Tally {
  constructor() {
    this.samples = 0;
    this.micros = 0;
    this.byKind = new Map();
    this.byStep = new Map();
    this.byStepKind = new Map();
    this.byFunction = new Map();
    this.profiles = [];
  }
  add(profile) {
    this.profiles.push(profile);
    const parent = new Map();
    const node = new Map();
    for (const n of profile.nodes) {
      node.set(n.id, n);
      for (const c of n.children ?? []) parent.set(c, n.id);
    }
    const stepOf = new Map();
    const step = (id) => {
      if (stepOf.has(id)) return stepOf.get(id);
      const own = stepName(node.get(id).callFrame.functionName);
      const p = parent.get(id);
      const s = p === undefined ? own : step(p) ?? own;
      stepOf.set(id, s);
      return s;
    };
    const deltas = profile.timeDeltas ?? [];
    profile.samples.forEach((id, i) => {
      const frame = node.get(id).callFrame;
      const kind = kindOf(frame);
      if (kind === "idle") return;
      const us = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0);
      const s = step(id) ?? "(no handler on the stack)";
      this.samples += 1;
      this.micros += us;
      bump(this.byKind, kind, us);
      bump(this.byStep, s, us);
      bump(this.byStepKind, `${s}\t${kind}`, us);
      bump(this.byFunction, `${kind}\t${frame.functionName || "(anonymous)"}`, us);
    });
  }
}

const bump = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);

/** What kind of code a frame is. */
function kindOf(frame) {
  const f = frame.functionName;
  if (f === "(idle)") return "idle";
  if (f === "(garbage collector)") return "gc";
  if (f === "(program)" || f === "(root)") return "runtime (native, outside JavaScript)";
  if (frame.url.startsWith("wasm://")) return "wasm";
  if (frame.url.endsWith("index.js") || frame.url.includes("/build/")) return "js glue";
  if (frame.url === "") return "runtime built-ins";
  return "other javascript";
}

/** The step of the buyer's path a Rust frame belongs to, if it names one. */
function stepName(functionName) {
  const m = /herdgate_edge::(api|pages|objects)::([a-z_]+)(?:::([A-Za-z_]+))?/.exec(functionName);
  if (!m) return undefined;
  if (m[1] === "objects") {
    const object = { queue_shard: "QueueShard", join_limiter: "JoinLimiter", sale_control: "SaleControl", janitor: "janitor" }[m[2]] ?? m[2];
    return `object ${object}`;
  }
  return `${m[1]}/${m[2]}${m[3] && m[1] === "api" && m[3] !== "h" ? "" : ""}`;
}

await waitForInspector();
const sessions = new Map();
const tallies = new Map();
for (const t of targets) {
  const s = await session(t);
  await s.send("Profiler.enable");
  await s.send("Profiler.setSamplingInterval", { interval: 500 });
  await s.send("Profiler.start");
  sessions.set(t, s);
  tallies.set(t, new Tally());
}
const started = Date.now();
let stopping = false;
const stop = () => {
  stopping = true;
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);

let alive = true;
for (const s of sessions.values()) s.closed.then(() => (alive = false));
while (alive && !stopping) {
  const until = Date.now() + windowMs;
  while (alive && !stopping && Date.now() < until) await sleep(100);
  if (!alive) break;
  for (const [t, s] of sessions) {
    try {
      const { profile } = await s.send("Profiler.stop");
      tallies.get(t).add(profile);
      if (!stopping) await s.send("Profiler.start");
    } catch {
      alive = false;
    }
  }
}
for (const s of sessions.values()) s.close();

const seconds = (us) => us / 1e6;
const pct = (part, whole) => (whole ? (100 * part) / whole : 0);
const sorted = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);
const summary = {
  recorded_s: (Date.now() - started) / 1000,
  isolates: {},
};
for (const [t, tally] of tallies) {
  const name = t === "core:user:" ? "herdgate worker" : "Miniflare entry worker";
  summary.isolates[name] = {
    cpu_s: seconds(tally.micros),
    by_kind: Object.fromEntries(sorted(tally.byKind).map(([k, v]) => [k, seconds(v)])),
    by_step: Object.fromEntries(sorted(tally.byStep).map(([k, v]) => [k, seconds(v)])),
    by_step_kind: Object.fromEntries(sorted(tally.byStepKind).map(([k, v]) => [k, seconds(v)])),
    top_functions: sorted(tally.byFunction)
      .slice(0, 40)
      .map(([k, v]) => {
        const [kind, f] = k.split("\t");
        return { kind, function: f, cpu_s: seconds(v) };
      }),
  };
}

const lines = [`recorded ${summary.recorded_s.toFixed(0)} s`];
for (const [name, s] of Object.entries(summary.isolates)) {
  lines.push("", `${name}: ${s.cpu_s.toFixed(2)} s of CPU sampled`);
  lines.push("  by kind of code:");
  for (const [k, v] of Object.entries(s.by_kind)) lines.push(`    ${pct(v, s.cpu_s).toFixed(1).padStart(5)} %  ${v.toFixed(2).padStart(8)} s  ${k}`);
  lines.push("  by step (the handler or object on the stack):");
  for (const [k, v] of Object.entries(s.by_step)) lines.push(`    ${pct(v, s.cpu_s).toFixed(1).padStart(5)} %  ${v.toFixed(2).padStart(8)} s  ${k}`);
  lines.push("  top functions (self time):");
  for (const f of s.top_functions.slice(0, 25))
    lines.push(`    ${pct(f.cpu_s, s.cpu_s).toFixed(1).padStart(5)} %  ${f.kind.padEnd(12).slice(0, 12)}  ${f.function.slice(0, 110)}`);
}
console.log(lines.join("\n"));
if (out) {
  fs.writeFileSync(out, JSON.stringify(summary, null, 2));
  for (const [t, tally] of tallies) {
    const merged = tally.profiles.at(-1);
    if (merged) fs.writeFileSync(out.replace(/\.json$/, "") + `.${t.replace(/[^a-z]/g, "")}.cpuprofile`, JSON.stringify(merged));
  }
}
