#!/usr/bin/env bash
# Benchmarks the Rust worker's status poll against a trivial JavaScript worker under the same
# local workerd, and measures one pass verification; then the edge's CPU per request of each kind
# (herdgate-bench edge-cost). Writes the figures into BENCHMARKS.md.
#
#   REQUESTS=20000 CONCURRENCY=32 scripts/bench-edge.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
scripts/build-worker.sh >/dev/null
cargo build --release --locked -p herdgate-origin -p herdgate-bench
target/release/herdgate-bench edge \
  --requests "${REQUESTS:-20000}" --concurrency "${CONCURRENCY:-32}" --rounds "${ROUNDS:-5}" --write BENCHMARKS.md
# The edge's CPU per request of each kind on the buyer's path (BENCHMARKS.md, "Where its CPU goes").
exec target/release/herdgate-bench edge-cost --buyers "${BUYERS:-1500}" --rounds 3 --write BENCHMARKS.md
