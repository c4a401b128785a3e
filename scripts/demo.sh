#!/usr/bin/env bash
# The main job, locally: a flash sale end to end.
#
# Sets up what is missing, builds the edge worker and release binaries, then `herd local`
# starts its own redis-server (the shipped redis/redis.conf, on a free loopback port, in a
# temporary directory), the origin, and the edge worker under workerd, and lets BUYERS honest
# buyers and a few dozen bots loose on a sale of ITEMS items. It prints the report and writes
# it, with plots, to OUT; then stops everything it started.
#
#   scripts/demo.sh                                   # 100,000 buyers, 1,000 items
#   BUYERS=5000 ITEMS=200 scripts/demo.sh --arrival before-start:15000
#   BUYERS=20000 scripts/demo.sh --arrival prequeue:180000:5000   # a fair opening: a 3-minute
#                                   # pre-queue, a drawn order, verified after the run
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-herd
exec target/release/herd local \
  --buyers "${BUYERS:-100000}" --items "${ITEMS:-1000}" --out "${OUT:-results/latest}" "$@"
