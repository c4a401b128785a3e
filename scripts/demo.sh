#!/usr/bin/env bash
# The main job, locally: a flash sale end to end.
#
# Sets up what is missing, builds herdgate in release mode, starts its own redis-server (the
# shipped redis/redis.conf, on a free loopback port, in a temporary directory) and the origin,
# creates a sale of ITEMS items, and lets BUYERS buyers, each holding an admission pass, press
# "Buy" at the same moment. Prints what sold and checks the books; stops everything it started.
#
#   BUYERS=100000 ITEMS=1000 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked -p herdgate-origin -p herdgate-bench
exec target/release/herdgate-bench flash-sale \
  --buyers "${BUYERS:-20000}" --items "${ITEMS:-1000}" "$@"
