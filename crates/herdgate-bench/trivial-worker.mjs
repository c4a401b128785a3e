// The edge benchmark's baseline: the least any worker can do for a status poll, answered by
// the same local workerd as the Rust worker.
const body = JSON.stringify({ state: "queued", position: 41, ahead: 12, eta_ms: 2400, poll_after_ms: 1200 });
export default {
  async fetch() {
    return new Response(body, { headers: { "content-type": "application/json", "cache-control": "no-store" } });
  },
};
