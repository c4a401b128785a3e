#!/usr/bin/env bash
# The main job, locally: a flash sale end to end, with a fair opening.
#
# Sets up what is missing, builds the edge worker and release binaries, then `herd local`
# starts its own redis-server (the shipped redis/redis.conf, on a free loopback port, in a
# temporary directory), the origin, and the edge worker under workerd, and lets BUYERS honest
# buyers and a few dozen bots loose on a sale of ITEMS items. By default the sale opens with a
# pre-queue (ARRIVAL, `prequeue:MS:WINDOW`): the crowd arrives in its first two thirds, the sale
# starts after MS and the draw closes WINDOW later; everyone in line by then gets a drawn place,
# and the herd verifies the published draw after the run. It prints the report and writes it,
# with plots, to OUT; then stops everything it started.
#
#   scripts/demo.sh                                   # 100,000 buyers, 1,000 items, a 200-second pre-queue
#   BUYERS=20000 ARRIVAL=prequeue:120000:5000 scripts/demo.sh
#   BUYERS=5000 ITEMS=200 scripts/demo.sh --arrival before-start:15000 --rate 20   # no draw
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-herd
exec target/release/herd local \
  --buyers "${BUYERS:-100000}" --items "${ITEMS:-1000}" --out "${OUT:-results/latest}" \
  --arrival "${ARRIVAL:-prequeue:200000:5000}" "$@"
