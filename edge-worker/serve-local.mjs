// Serves the built worker (build/index.js + build/index_bg.wasm) under workerd via Miniflare,
// on 127.0.0.1, for tests, benchmarks and the local demo. Deployers use `wrangler dev`
// instead; this exists so a test can start the worker with bindings of its own and learn its
// port without parsing wrangler's output.
//
//   HERDGATE_EDGE_BINDINGS='{"ORIGIN_URL":"http://127.0.0.1:8080", ...}' \
//   HERDGATE_EDGE_PORT=0 node edge-worker/serve-local.mjs [--persist DIR] [--script FILE]
//
// Prints one line of JSON, {"url": "http://127.0.0.1:PORT/"}, once the worker answers, then
// serves until SIGTERM or SIGINT.
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";
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

const mf = new Miniflare({
  host: "127.0.0.1",
  port: Number(process.env.HERDGATE_EDGE_PORT ?? 0),
  compatibilityDate: "2026-07-01",
  bindings,
  ...options,
});

const url = await mf.ready;
console.log(JSON.stringify({ url: url.href }));

const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
