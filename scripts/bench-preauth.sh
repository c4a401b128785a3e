#!/usr/bin/env bash
# The card-hold figures: the same crowd twice against the local stack, without and with card
# holds (`herd local --preauth`: the sale has a price, every honest buyer puts localstripe's
# test card on hold right after joining, the origin captures the winners', the queue shards
# release everyone else's). Writes results/preauth/{off,on}/report.json and the table between
# the bench:preauth markers of BENCHMARKS.md.
#
#   scripts/bench-preauth.sh                 # 2,000 buyers, 200 items
#   BUYERS=500 ITEMS=50 scripts/bench-preauth.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-herd

BUYERS="${BUYERS:-2000}"
ITEMS="${ITEMS:-200}"
ARGS=(--buyers "$BUYERS" --items "$ITEMS" --rate 100 --arrival burst:5000 --defences all --quiet)
for mode in off on; do
  extra=()
  if [ "$mode" = on ]; then extra=(--preauth); fi
  echo "bench-preauth: card holds $mode" >&2
  target/release/herd local "${ARGS[@]}" "${extra[@]}" --sale "preauth-$mode" \
    --out "results/preauth/$mode" >/dev/null
done
python3 - "${ARGS[*]}" <<'PY'
import json, re, sys
args = sys.argv[1]
off = json.load(open("results/preauth/off/report.json"))
on = json.load(open("results/preauth/on/report.json"))
def lat(r, e, q):
    v = r["latency_ms"].get(e)
    return v[q] if v else None
def ms(v):
    return "–" if v is None else f"{v:.0f} ms"
def ratio(a, b):
    return "–" if not a or b is None else f"{b / a:.2f}×"
h = on["holds"]
rows = []
for q in ["p50", "p90", "p99"]:
    a, b = off["bought_latency_ms"][q], on["bought_latency_ms"][q]
    rows.append(f"| purchase that bought (201) {q} | {ms(a)} | {ms(b)} | {ratio(a, b)} |")
for e, q in [("purchase", "p50"), ("purchase", "p90"), ("purchase", "p99"), ("status", "p50"), ("join", "p50")]:
    a, b = lat(off, e, q), lat(on, e, q)
    rows.append(f"| every {e} {q} | {ms(a)} | {ms(b)} | {ratio(a, b)} |")
for q in ["p50", "p90", "p99"]:
    rows.append(f"| hold {q} (new request) | – | {ms(lat(on, 'hold', q))} | |")
rows.append(f"| sold / oversold | {off['sold']} / {off['oversold']} | {on['sold']} / {on['oversold']} | |")
rows.append(f"| purchases at the origin | {off['requests']['origin']['purchase']:.0f} | {on['requests']['origin']['purchase']:.0f} | |")
rows.append(f"| run | {off['duration_s']:.1f} s | {on['duration_s']:.1f} s | |")
released = "not all" if h["all_released_after_s"] is None else f"{h['all_released_after_s']:.1f} s after the run"
table = "\n".join([
    f"Command: `scripts/bench-preauth.sh` (each column: `herd local {args} [--preauth]`, one machine, "
    "localstripe 1.15.10 as the processor).",
    "",
    "| | card holds off | card holds on | on / off |",
    "|---|---|---|---|",
    *rows,
    "",
    f"Holds: {h['created']} created, {h['captured']} captured, {h['released']} released, "
    f"{h['held']} still held when counted; every loser's hold released {released}.",
])
text = open("BENCHMARKS.md").read()
start, end = "<!-- bench:preauth:start -->", "<!-- bench:preauth:end -->"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + table + "\n" + end, text, flags=re.S)
else:
    text += "\n" + start + "\n" + table + "\n" + end + "\n"
open("BENCHMARKS.md", "w").write(text)
print(table)
PY
