#!/usr/bin/env bash
# The card-hold figures: the same crowd twice against the local stack, without and with card
# holds (`herd local --preauth`: the sale has a price, every honest buyer puts localstripe's
# test card on hold right after joining, the origin captures the winners', the queue shards
# release everyone else's). `herdgate-bench preauth` runs both and writes
# results/preauth/{off,on}/report.json and the table between the bench:preauth markers of
# BENCHMARKS.md.
#
#   scripts/bench-preauth.sh                 # 2,000 buyers, 200 items
#   BUYERS=500 ITEMS=50 scripts/bench-preauth.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-herd -p herdgate-bench
exec target/release/herdgate-bench preauth \
  --buyers "${BUYERS:-2000}" --items "${ITEMS:-200}" "$@" --write BENCHMARKS.md
