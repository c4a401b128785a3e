#!/usr/bin/env bash
# Sets up what is missing and runs every check and test herdgate has.
#
#   formatting     cargo fmt --check
#   lints          cargo clippy --all-targets -D warnings (the worker crate included)
#   wasm32         the shared crates and the worker build for wasm32-unknown-unknown
#   vectors        vectors.json is what its independent generator writes
#   worker         scripts/build-worker.sh: the worker as wrangler deploys it
#   page           the page's JavaScript against the known-answer vectors (node --test)
#   tests          cargo test --workspace: unit tests, known-answer vectors, and the
#                  end-to-end tests: real redis-server processes, the origin, and the built
#                  worker under workerd
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# A test run changes no tracked file (checked at the end): the lock file especially.
lock_before="$(sha256sum package-lock.json)"

# A run from a clean checkout gains nothing from incremental compilation, and its caches are
# several GB: off unless the caller sets it.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*"; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "shared crates and the worker build for wasm32-unknown-unknown"
scripts/cargo-wasm.sh build -p herdgate-core -p herdgate-pay -p herdgate-edge --locked

step "known-answer vectors match their generator"
python3 crates/herdgate-core/vectors/generate.py >/dev/null
git diff --exit-code -- crates/herdgate-core/vectors/vectors.json

step "build the edge worker (scripts/build-worker.sh)"
scripts/build-worker.sh

step "the page's JavaScript against the vectors"
node_modules/.bin/node --test edge-worker/page.test.mjs 2>&1 | tee -a "$log"

step "cargo test --workspace"
cargo test --workspace --locked 2>&1 | tee -a "$log"

step "the run left package-lock.json as it found it"
[ "$(sha256sum package-lock.json)" = "$lock_before" ] || {
  echo "package-lock.json changed during the run: commit the lock npm wrote" >&2
  exit 1
}

# One closing line with the totals over every test binary and the JavaScript tests (cargo
# prints one line per binary, and the last is often a doc-test run with nothing in it).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     /^# pass / { p += $3 } /^# fail / { f += $3 }
     END { printf "\n%d passed, %d failed\n", p, f }' "$log"
