#!/usr/bin/env bash
# The bot-defence table: the same crowd (honest buyers who behave like people, and bots of
# every strategy, more than a tenth of the crowd) against the local stack with each defence
# off, each alone, and all on. Writes results/bots/<defences>/report.json and the table
# between the bench:bots markers of BENCHMARKS.md.
#
#   scripts/bench-bots.sh                 # 2,000 buyers + 250 bots, 200 items
#   BUYERS=500 ITEMS=50 scripts/bench-bots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-herd

BUYERS="${BUYERS:-2000}"
ITEMS="${ITEMS:-200}"
ARGS=(--buyers "$BUYERS" --items "$ITEMS" --rate 50 --arrival ramp:10000 --pow-bits 16
      --bots-flood 25 --bots-forged 25 --bots-share 25 --bots-multi-join 25 --bots-skip 25
      --bots-farm 75 --bots-fast 50 --connections 128 --quiet)
for d in none pow binding limits audit all; do
  echo "bench-bots: defences=$d" >&2
  target/release/herd local "${ARGS[@]}" --defences "$d" --sale "bots-$d" --out "results/bots/$d" >/dev/null
done

python3 - "$BUYERS" "$ITEMS" "${ARGS[*]}" <<'PY'
import json, re, sys
buyers, items, args = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
strategies = ["flood", "forged", "share", "multi_join", "skip", "farm", "fast"]
for d in ["none", "pow", "binding", "limits", "audit", "all"]:
    r = json.load(open(f"results/bots/{d}/report.json"))
    bots = r["bots"]
    per = " · ".join(f"{s} {bots[s]['items']}" for s in strategies if s in bots)
    clients = sum(b["clients"] for b in bots.values())
    crowd = r["honest"]["buyers"] + clients
    rows.append(f"| {d} | {r['sold']} | {r['honest']['bought']} | {r['bot_items']} | "
                f"{100 * r['honest_share']:.1f} % | {r['honest']['cancelled']} | "
                f"{sum(b['cancelled'] for b in bots.values())} | {per} |")
table = "\n".join([
    f"Crowd: {buyers} honest buyers and {clients} bot clients ({100 * clients / crowd:.1f} % of the crowd), "
    f"{items} items. Command: `scripts/bench-bots.sh` (each row: `herd local {args} --defences <row>`).",
    "",
    "| defences | sold | honest kept | bots kept | honest share | honest cancelled (false positives) | bot orders cancelled | bot items kept by strategy |",
    "|---|---|---|---|---|---|---|---|",
    *rows,
])
text = open("BENCHMARKS.md").read()
start, end = "<!-- bench:bots:start -->", "<!-- bench:bots:end -->"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + table + "\n" + end, text, flags=re.S)
else:
    text += "\n" + start + "\n" + table + "\n" + end + "\n"
open("BENCHMARKS.md", "w").write(text)
print(table)
PY
