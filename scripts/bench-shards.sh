#!/usr/bin/env bash
# One hot sale on one Redis Cluster primary against the same sale over three stock shards, on
# one local cluster (3 primaries, 3 replicas), in one run: purchases per second and Redis CPU
# per purchase; writes the figures into BENCHMARKS.md (section bench:shards). Not part of the
# test suite.
#
#   BUYERS=3000 ROUNDS=2 scripts/bench-shards.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
cargo build --release --locked -p herdgate-bench
exec target/release/herdgate-bench shards --buyers "${BUYERS:-3000}" --rounds "${ROUNDS:-2}" \
  --write BENCHMARKS.md
