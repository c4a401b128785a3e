// The herdgate console: reads the admin API once a second with the session's cookie and
// draws what it says. Every call that changes something carries the page's CSRF token and
// asks for a confirmation first. Nothing here is trusted by the origin: it checks each call.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;
// How long a visitor whose turn came may take to claim a pass before they count as gone:
// the edge's longest poll interval (30 s) and a margin.
const GAVE_UP_GRACE_MS = 35000;
const WINDOW_MS = 10000;
const $ = (id) => document.getElementById(id);

// The console keeps the last hour of samples (at one a second): enough for the plots, and
// what a browser draws without strain.
const KEEP_MS = 3600 * 1000;
const KEEP_SAMPLES = 4000;

let sale = null;
let samples = [];
let admin = null;
let listedAt = 0;
let busy = false;

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body) {
  const headers = { "x-csrf-token": CSRF };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json().catch(() => null);
  if (!r.ok) {
    if (r.status === 401) location.reload(); // the session ended: back to the login form
    const e = json && json.error ? json.error : { code: "http_" + r.status, message: r.statusText };
    throw new ApiError(r.status, e.code, e.message);
  }
  return json;
}

const fmt = (n) => (n === null || n === undefined || Number.isNaN(n) ? "–" : Number(n).toLocaleString("en-US"));
const fmt1 = (n) => (n === null || n === undefined || Number.isNaN(n) ? "–" : (Math.round(n * 10) / 10).toLocaleString("en-US"));
const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
const most = (values) => values.reduce((a, b) => (b > a ? b : a), 1);

function say(text, bad) {
  const m = $("message");
  m.textContent = text;
  m.hidden = !text;
  m.className = bad ? "bad" : "";
}

// The sample taken at least `ms` before the last one, or the first.
function before(ms) {
  const last = samples[samples.length - 1];
  for (let i = samples.length - 1; i >= 0; i--) {
    if (last.at_ms - samples[i].at_ms >= ms) return samples[i];
  }
  return samples[0];
}

// What the console derives from the samples: the same formulas as the report's
// (`herdgate_core::wire::TimelineSample::in_line`, `Timeline::gave_up`).
function inLine(s) {
  if (!s.edge) return null;
  const joined = s.edge.counts.joins;
  return Math.max(0, joined - Math.min(s.edge.frontier, joined));
}

function gaveUp(last) {
  if (!last.edge) return null;
  const then = samples.filter((s) => s.edge && last.at_ms - s.at_ms >= GAVE_UP_GRACE_MS).pop();
  if (!then) return 0;
  const reached = Math.min(then.edge.frontier, then.edge.counts.joins);
  return Math.max(0, reached - last.edge.counts.passes);
}

// The rate of `pick` over the last WINDOW_MS, from the earliest sample in it that has a value.
function perSecond(pick) {
  if (samples.length < 2) return null;
  const last = samples[samples.length - 1];
  const first = samples.find((s) => last.at_ms - s.at_ms <= WINDOW_MS && pick(s) !== null);
  if (!first) return null;
  const dt = (last.at_ms - first.at_ms) / 1000;
  const a = pick(first);
  const b = pick(last);
  if (dt <= 0 || b === null) return null;
  return Math.max(0, b - a) / dt;
}

// Per-interval rates for a plot: (seconds since the first sample, value).
function rates(pick) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const a = pick(samples[i - 1]);
    const b = pick(samples[i]);
    const dt = (samples[i].at_ms - samples[i - 1].at_ms) / 1000;
    if (a !== null && b !== null && dt > 0) out.push([(samples[i].at_ms - samples[0].at_ms) / 1000, Math.max(0, b - a) / dt]);
  }
  return out;
}

function plot(id, points) {
  const svg = $(id);
  const W = 400, H = 160, L = 44, B = 22, T = 8, R = 8;
  const xmax = most(points.map((p) => p[0]));
  const ymax = most(points.map((p) => p[1]));
  const x = (v) => L + (v / xmax) * (W - L - R);
  const y = (v) => H - B - (v / ymax) * (H - B - T);
  const path = points.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
  const last = points.length ? points[points.length - 1][1] : 0;
  svg.innerHTML =
    `<line class="axis" x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}"/>` +
    `<line class="axis" x1="${L}" y1="${T}" x2="${L}" y2="${H - B}"/>` +
    `<text x="${L - 4}" y="${T + 8}" text-anchor="end">${fmt1(ymax)}</text>` +
    `<text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>` +
    `<text x="${W - R}" y="${H - 6}" text-anchor="end">${fmt1(xmax)} s</text>` +
    (path ? `<path class="series" d="${path}"/>` : "");
  svg.setAttribute("aria-label", `${points.length} points; latest ${fmt1(last)}, highest ${fmt1(ymax)}`);
}

function render() {
  if (!admin) return;
  const st = admin.state;
  const last = samples[samples.length - 1];
  const edge = last && last.edge;
  $("orders").textContent = fmt(admin.orders);
  $("sold").textContent = fmt(st.sold);
  $("remaining").textContent = fmt(st.remaining);
  $("cancelled").textContent = fmt(st.cancelled);
  $("rate-set").textContent = fmt(st.admission_rate);
  $("state").textContent = st.status === "sold_out" ? "sold out" : st.paused ? "paused" : st.status;
  $("joined").textContent = edge ? fmt(edge.counts.joins) : "–";
  $("admitted").textContent = edge ? fmt(edge.counts.passes) : "–";
  $("frontier").textContent = edge ? fmt(edge.frontier) : "–";
  $("in-line").textContent = last ? fmt(inLine(last)) : "–";
  $("gave-up").textContent = last ? fmt(gaveUp(last)) : "–";
  $("rate-seen").textContent = fmt1(perSecond((s) => (s.edge ? s.edge.counts.passes : null)));
  $("buy-rate").textContent = fmt1(perSecond((s) => s.orders));
  const lat = last && last.latency;
  $("p50").textContent = lat ? fmt1(lat.p50_ms) : "–";
  $("p99").textContent = lat ? fmt1(lat.p99_ms) : "–";
  const pay = last ? last.payments : null;
  $("holds").textContent = edge ? fmt(edge.counts.holds) : "–";
  $("captured").textContent = pay ? fmt(pay.captured) : "–";
  $("pending").textContent = pay ? fmt(pay.pending) : "–";
  $("failed").textContent = pay ? fmt(pay.failed) : "–";
  $("uncaptured").textContent = edge && pay ? fmt(Math.max(0, edge.counts.holds - pay.captured - pay.pending - pay.failed)) : "–";
  const refusals = edge ? edge.counts.refusals : {};
  const earlier = samples.length ? before(WINDOW_MS) : null;
  const rows = Object.entries(refusals).sort((a, b) => b[1] - a[1]);
  const body = $("refusals");
  body.replaceChildren();
  if (!rows.length) {
    const tr = body.insertRow();
    const td = tr.insertCell();
    td.colSpan = 3;
    td.textContent = "None yet.";
  }
  for (const [code, total] of rows) {
    const tr = body.insertRow();
    tr.dataset.code = code;
    tr.insertCell().textContent = code;
    tr.insertCell().textContent = fmt(total);
    const was = earlier && earlier.edge ? earlier.edge.counts.refusals[code] || 0 : 0;
    tr.insertCell().textContent = fmt(total - was);
  }
  if (samples.length) {
    const t0 = samples[0].at_ms;
    plot("plot-line", samples.filter((s) => s.edge).map((s) => [(s.at_ms - t0) / 1000, inLine(s)]));
    plot("plot-admissions", rates((s) => (s.edge ? s.edge.counts.passes : null)));
    plot("plot-sales", rates((s) => s.sold + s.cancelled));
    plot("plot-refusals", rates((s) => (s.edge ? sum(s.edge.counts.refusals) : null)));
  }
  const when = last ? new Date(last.at_ms).toLocaleTimeString() : "no sample yet";
  $("updated").textContent = `${sale}: ${samples.length} samples, last at ${when}` + (edge || !last ? "" : " (no edge numbers: start the origin with --edge-url)");
}

async function listSales() {
  const list = await api("GET", "/admin/v1/sales");
  const select = $("sale");
  const ids = list.sales.map((s) => s.state.sale);
  let fromHash = null;
  try {
    fromHash = decodeURIComponent(location.hash.replace(/^#/, "")) || null;
  } catch {
    fromHash = null; // a hash that is not an encoded sale id
  }
  const wanted = sale || fromHash;
  select.replaceChildren(...ids.map((id) => new Option(id, id)));
  const open = list.sales.find((s) => s.state.status === "open");
  const pick = ids.includes(wanted) ? wanted : open ? open.state.sale : ids[0] || null;
  if (pick !== sale) choose(pick);
  if (pick) select.value = pick;
  if (!ids.length) $("updated").textContent = "No sales yet: create one with `herdgate sale put`.";
}

function choose(id) {
  sale = id;
  samples = [];
  admin = null;
  if (id) history.replaceState(null, "", "#" + encodeURIComponent(id));
}

async function refresh() {
  // One refresh at a time: a slow answer must not land after a newer one.
  if (busy) return;
  busy = true;
  try {
    if (Date.now() - listedAt > 3000) {
      listedAt = Date.now();
      await listSales();
    }
    if (!sale) return;
    const path = "/admin/v1/sales/" + encodeURIComponent(sale);
    const last = samples.length ? samples[samples.length - 1].at_ms : 0;
    const from = last ? last + 1 : Math.max(0, Date.now() - KEEP_MS);
    const [a, t] = await Promise.all([api("GET", path), api("GET", `${path}/timeline?from_ms=${from}`)]);
    if (t.sale !== sale) return;
    admin = a;
    for (const s of t.samples) if (!samples.length || s.at_ms > samples[samples.length - 1].at_ms) samples.push(s);
    if (samples.length > KEEP_SAMPLES) samples = samples.slice(samples.length - KEEP_SAMPLES);
    render();
  } catch (e) {
    say(`Could not read the sale: ${e.message}${e.code ? " (" + e.code + ")" : ""}`, true);
  } finally {
    busy = false;
  }
}

function confirmThen(text, action) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "ok") return;
      try {
        const done = await action();
        say(done, false);
        await refresh();
      } catch (e) {
        say(`Refused: ${e.message}${e.code ? " (" + e.code + ")" : ""}`, true);
      }
    },
    { once: true },
  );
  dialog.showModal();
}

function control(body, text, done) {
  confirmThen(text, async () => {
    await api("POST", `/admin/v1/sales/${encodeURIComponent(sale)}/control`, body);
    return done;
  });
}

function auditSummary(r) {
  const flagged = r.audit && r.audit.flagged ? r.audit.flagged.length : 0;
  return r.applied
    ? `Audit applied: ${fmt(flagged)} orders flagged, ${fmt(r.cancelled)} cancelled, ${fmt(r.refunded)} refunded; ${fmt(r.remaining)} items left.`
    : `Audit (nothing changed): ${fmt(flagged)} of the orders would be cancelled.`;
}

function wire() {
  $("sale").addEventListener("change", (e) => {
    choose(e.target.value);
    refresh();
  });
  $("pause").addEventListener("click", () =>
    control({ action: "pause" }, `Pause admission for ${sale}? Nobody new is let in until you resume.`, "Admission paused."),
  );
  $("resume").addEventListener("click", () =>
    control({ action: "resume" }, `Resume admission for ${sale}?`, "Admission resumed."),
  );
  $("rate-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const rate = Number($("rate").value);
    control({ action: "set_rate", rate }, `Set ${sale}'s admission rate to ${rate} per second?`, `Rate set to ${rate} per second.`);
  });
  $("postpone-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const at = new Date($("starts").value).getTime();
    if (!Number.isFinite(at) || at <= Date.now()) {
      say("A postponed opening is in the future: pick a later time.", true);
      return;
    }
    confirmThen(`Move ${sale}'s opening to ${new Date(at).toLocaleString()}?`, async () => {
      const path = `/admin/v1/sales/${encodeURIComponent(sale)}`;
      const current = await api("GET", path);
      if (at <= current.config.starts_at_ms) {
        throw new ApiError(0, "earlier", "Postponing moves the opening later; this time is not after it.");
      }
      // The settings as they are, with the new start; a pause is the controls' to change.
      const { paused, ...config } = current.config;
      await api("PUT", path, { ...config, starts_at_ms: at });
      return `Opening moved to ${new Date(at).toLocaleString()}.`;
    });
  });
  $("audit-dry").addEventListener("click", async () => {
    try {
      const r = await api("POST", `/admin/v1/sales/${encodeURIComponent(sale)}/audit`, {});
      $("audit-result").textContent = auditSummary(r);
    } catch (e) {
      say(`Refused: ${e.message} (${e.code})`, true);
    }
  });
  $("audit-apply").addEventListener("click", () =>
    confirmThen(`Cancel every order the audit flags in ${sale}, and refund them? This cannot be undone.`, async () => {
      const r = await api("POST", `/admin/v1/sales/${encodeURIComponent(sale)}/audit`, { apply: true });
      $("audit-result").textContent = auditSummary(r);
      return auditSummary(r);
    }),
  );
  $("logout").addEventListener("click", async () => {
    const r = await fetch("/admin/logout", { method: "POST", headers: { "x-csrf-token": CSRF }, credentials: "same-origin" }).catch(() => null);
    if (r && (r.ok || r.redirected)) {
      location.assign("/admin/");
    } else {
      // A newer login in another tab replaced this page's session token.
      say("Could not sign out from this page: reload it, then sign out.", true);
    }
  });
}

wire();
refresh();
setInterval(refresh, 1000);
