#!/usr/bin/env bash
# The bot-defence table: the same crowd (honest buyers who behave like people, and bots of
# every strategy, more than a tenth of the crowd) against the local stack with each defence
# off, each alone, and all on; once with the bots arriving like the crowd and once with every
# bot arriving the instant the sale opens. `herdgate-bench bots` runs `herd local` for each and
# writes results/bots/<when>/<defences>/report.json and the tables between the
# bench:bots-with-crowd and bench:bots-opening markers of BENCHMARKS.md.
#
#   scripts/bench-bots.sh                 # 2,000 buyers + 250 bots, 200 items
#   BUYERS=500 ITEMS=50 scripts/bench-bots.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-herd -p herdgate-bench
exec target/release/herdgate-bench bots \
  --buyers "${BUYERS:-2000}" --items "${ITEMS:-200}" "$@" --write BENCHMARKS.md
