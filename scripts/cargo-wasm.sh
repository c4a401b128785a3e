#!/usr/bin/env bash
# Runs `cargo <args> --target wasm32-unknown-unknown` with a toolchain that can build wasm32
# (rustup's target, or Debian's rustc-web with build-std: see scripts/wasm-env.sh).
#
# Example: scripts/cargo-wasm.sh build -p herdgate-core --release
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/wasm-env.sh
. "$root/scripts/wasm-env.sh" "$root"
exec cargo "$@" --target "$WASM_TARGET"
