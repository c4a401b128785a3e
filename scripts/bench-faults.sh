#!/usr/bin/env bash
# The fault table: for each fault (kill -9 of Redis, restarted from its AOF; kill -9 of the
# origin, restarted on its port; the origin frozen with SIGSTOP past the edge's
# ORIGIN_TIMEOUT_MS, then SIGCONT; the edge killed and restarted with its Durable Object
# directory), a fresh local stack takes the same crowd, the fault strikes once a quarter of the
# stock has sold, and the records are checked afterwards: acknowledged orders lost, visitors
# with two orders, items oversold, buyers locked out, orders withheld from their buyers, and
# the time to recover. `herdgate-bench faults` writes results/faults/report.json and the table
# between the bench:faults markers of BENCHMARKS.md. About 5 minutes on a 2-core machine.
#
#   scripts/bench-faults.sh                            # 3,000 buyers, 600 items, 10 s down
#   BUYERS=1000 ITEMS=200 scripts/bench-faults.sh --only origin-sigstop
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-bench
exec target/release/herdgate-bench faults \
  --buyers "${BUYERS:-3000}" --items "${ITEMS:-600}" "$@" --write BENCHMARKS.md
