#!/usr/bin/env bash
# The bot-defence table: the same crowd (honest buyers who behave like people, and bots of
# every strategy, more than a tenth of the crowd) against the local stack with each defence
# off, each alone, and all on; once with the bots arriving like the crowd and once with every
# bot arriving the instant the sale opens. Writes results/bots/<when>/<defences>/report.json and the tables
# between the bench:bots-with-crowd and bench:bots-opening markers of BENCHMARKS.md.
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
# Base difficulty 12 and ceiling 18 keep the herd's own native solving (every buyer's and every
# bot's, all on this machine) from starving the local edge of CPU; people still wait as long as
# a browser would for the same attempts.
ARGS=(--buyers "$BUYERS" --items "$ITEMS" --rate 50 --arrival ramp:10000 --pow-bits 12 --pow-max-bits 18
      --bots-flood 25 --bots-forged 25 --bots-share 25 --bots-multi-join 25 --bots-skip 25
      --bots-farm 75 --bots-fast 50 --connections 128 --deadline-secs 180 --quiet)
# Two crowds: bots arriving like everyone else, and every bot arriving the instant the sale opens.
for when in with-crowd opening; do
  extra=()
  if [ "$when" = opening ]; then extra=(--bots-at-opening); fi
  for d in none pow binding limits audit all; do
    echo "bench-bots: bots $when, defences=$d" >&2
    target/release/herd local "${ARGS[@]}" "${extra[@]}" --defences "$d" --sale "bots-$d" \
      --out "results/bots/$when/$d" >/dev/null
  done
  python3 - "$BUYERS" "$ITEMS" "${ARGS[*]} ${extra[*]}" "$when" <<'PY'
import json, re, sys
buyers, items, args, when = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = []
strategies = ["flood", "forged", "share", "multi_join", "skip", "farm", "fast"]
for d in ["none", "pow", "binding", "limits", "audit", "all"]:
    r = json.load(open(f"results/bots/{when}/{d}/report.json"))
    bots = r["bots"]
    per = " · ".join(f"{s} {bots[s]['items']}" for s in strategies if s in bots)
    clients = sum(r["config"]["bots"].values())
    crowd = r["honest"]["buyers"] + clients
    rows.append(f"| {d} | {r['sold']} | {r['honest']['bought']} | {r['bot_items']} | "
                f"{100 * r['honest_share']:.1f} % | {r['honest']['cancelled']} | "
                f"{sum(b['cancelled'] for b in bots.values())} | "
                f"{r['sold'] - r['honest']['bought'] - r['bot_items']} | {r['duration_s']:.0f} s | {per} |")
table = "\n".join([
    f"Crowd: {buyers} honest buyers and {clients} bot clients ({100 * clients / crowd:.1f} % of the crowd), "
    f"{items} items. Command: `scripts/bench-bots.sh` (each row: `herd local {args} --defences <row>`).",
    "",
    "| defences | sold | honest kept | bots kept | honest share | honest cancelled (false positives) | bot orders cancelled | unaccounted | run | bot items kept by strategy |",
    "|---|---|---|---|---|---|---|---|---|---|",
    *rows,
])
text = open("BENCHMARKS.md").read()
start, end = f"<!-- bench:bots-{when}:start -->", f"<!-- bench:bots-{when}:end -->"
if start in text:
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + table + "\n" + end, text, flags=re.S)
else:
    text += "\n" + start + "\n" + table + "\n" + end + "\n"
open("BENCHMARKS.md", "w").write(text)
print(table)
PY
done
