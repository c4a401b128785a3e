#!/usr/bin/env bash
# Benchmarks the origin against redis-benchmark running the same Lua script, in one run, and
# writes the figures into BENCHMARKS.md. Not part of the test suite.
#
#   REQUESTS=50000 CONCURRENCY=50 scripts/bench-origin.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --release --locked -p herdgate-origin -p herdgate-bench
exec target/release/herdgate-bench origin \
  --requests "${REQUESTS:-50000}" --concurrency "${CONCURRENCY:-50}" --write BENCHMARKS.md
