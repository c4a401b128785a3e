#!/usr/bin/env bash
# What a card hold adds to a winner's checkout: origin purchases that capture a hold at
# localstripe against the same purchases without one, in one run; writes the figures into
# BENCHMARKS.md (section bench:capture). Not part of the test suite.
#
#   BUYERS=300 scripts/bench-capture.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh >/dev/null
cargo build --release --locked -p herdgate-bench
exec target/release/herdgate-bench capture --buyers "${BUYERS:-300}" --write BENCHMARKS.md
