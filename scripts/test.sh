#!/usr/bin/env bash
# Sets up what is missing and runs every check and test herdgate has.
#
#   formatting            cargo fmt --check
#   lints                 cargo clippy --all-targets -D warnings
#   wasm32                the shared crates build for wasm32-unknown-unknown
#   vectors               vectors.json is what its independent generator writes
#   tests                 cargo test --workspace: unit tests, known-answer vectors, and the
#                         end-to-end tests against real redis-server processes
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "shared crates build for wasm32-unknown-unknown"
scripts/cargo-wasm.sh build -p herdgate-core --locked

step "known-answer vectors match their generator"
python3 crates/herdgate-core/vectors/generate.py >/dev/null
git diff --exit-code -- crates/herdgate-core/vectors/vectors.json

step "cargo test --workspace"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

# One closing line with the totals over every test binary (cargo prints one per binary, and
# the last is often a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
