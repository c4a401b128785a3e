// Serves the built worker (build/index.js + build/index_bg.wasm) under workerd via Miniflare,
// on 127.0.0.1, for tests, benchmarks and the local demo. Deployers use `wrangler dev`
// instead; this exists so a test can start the worker with bindings of its own and learn its
// port without parsing wrangler's output.
//
//   HERDGATE_EDGE_BINDINGS='{"ORIGIN_URL":"http://127.0.0.1:8080", ...}' \
//   HERDGATE_EDGE_PORT=0 node edge-worker/serve-local.mjs [--persist DIR] [--script FILE]
//   (HERDGATE_EDGE_INSPECTOR_PORT=9229 as well: workerd's inspector, for a CPU profile)
//
// Prints one line of JSON, {"url": "http://127.0.0.1:PORT/"}, once the worker answers, then
// serves until SIGTERM or SIGINT.
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const bindings = JSON.parse(process.env.HERDGATE_EDGE_BINDINGS ?? "{}");
const persist = flag("--persist");
const script = flag("--script");

const options = script
  ? {
      // A plain JavaScript worker (the benchmark's trivial baseline).
      modules: true,
      scriptPath: path.resolve(script),
    }
  : {
      modules: [
        { type: "ESModule", path: path.join(here, "build/index.js") },
        { type: "CompiledWasm", path: path.join(here, "build/index_bg.wasm") },
      ],
      modulesRoot: path.join(here, "build"),
      durableObjects: { QUEUE_SHARDS: "QueueShard", SALE_CONTROL: "SaleControl", JOIN_LIMITS: "JoinLimiter" },
      durableObjectsPersist: persist ? path.resolve(persist) : false,
    };

// Without --persist, the Durable Objects' SQLite files live in Miniflare's temporary directory
// for the run, which is put in memory (/dev/shm, where there is one) rather than on disk: every
// object request that writes commits a transaction, and on a disk each commit waits for a sync
// that cost more of the edge's CPU than the objects' own work (BENCHMARKS.md, "Where the edge's
// CPU goes"). The storage is the same (workerd's SQLite); Miniflare deletes the directory when
// it stops. workerd's purely in-memory object storage is not used: it crashed workerd in the
// card-hold tests ("Promise callback destroyed itself").
// A /dev/shm with less than 1 GiB free (a container's default is 64 MiB; a 100,000-buyer run
// keeps about 20 MB in its objects, and SQLite more) is not used.
if (!persist && !process.env.TMPDIR) {
  try {
    fs.accessSync("/dev/shm", fs.constants.W_OK);
    const shm = fs.statfsSync("/dev/shm");
    if (shm.bavail * shm.bsize >= 1024 ** 3) process.env.TMPDIR = "/dev/shm";
  } catch {
    // No writable /dev/shm: the system's temporary directory.
  }
}

// HERDGATE_EDGE_INSPECTOR_PORT opens workerd's DevTools inspector on 127.0.0.1 at that port
// (for scripts/profile-edge.mjs); unset, there is none.
const inspector = process.env.HERDGATE_EDGE_INSPECTOR_PORT;

// The worker listens on its own socket, as workerd serves a worker in production, not behind
// Miniflare's entry worker: that one (request logging, pretty errors, live reload, a made-up
// `request.cf`) re-fetches every request into the worker and cost about two fifths of the
// local edge's CPU (BENCHMARKS.md, "Where the edge's CPU goes"). Miniflare's own socket is
// still opened (on a free port) and unused.
// HERDGATE_EDGE_VIA_ENTRY=1 serves it behind the entry worker as before (to compare with
// figures measured that way).
const viaEntry = process.env.HERDGATE_EDGE_VIA_ENTRY === "1";
const port = Number(process.env.HERDGATE_EDGE_PORT ?? 0);
const mf = new Miniflare({
  host: "127.0.0.1",
  port: viaEntry ? port : 0,
  ...(inspector ? { inspectorPort: Number(inspector) } : {}),
  compatibilityDate: "2026-07-01",
  bindings,
  ...(viaEntry ? {} : { unsafeDirectSockets: [{ host: "127.0.0.1", port }] }),
  ...options,
});

const entryUrl = await mf.ready;
const url = viaEntry ? entryUrl : await mf.unsafeGetDirectURL();
console.log(JSON.stringify({ url: url.href }));

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
