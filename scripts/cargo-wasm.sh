#!/usr/bin/env bash
# Runs `cargo <args> --target wasm32-unknown-unknown` with a toolchain that can build wasm32.
#
# 1. rustup's own target (`rustup target add wasm32-unknown-unknown`), where it can be had;
# 2. otherwise Debian's rustc-web (pinned) with the standard library built from its sources
#    (`-Z build-std`, allowed by RUSTC_BOOTSTRAP), linked by wasm-ld-22: the route
#    ../shared/TOOLCHAIN.md describes for machines whose rustup cannot download a target.
#
# Example: scripts/cargo-wasm.sh build -p herdgate-core --release
set -euo pipefail

TARGET=wasm32-unknown-unknown
DEBIAN_RUST_VERSION="1.96.0+dfsg1-1~deb12u2"

if command -v rustup >/dev/null 2>&1; then
  if rustup target list --installed 2>/dev/null | grep -qx "$TARGET" \
    || timeout 180 rustup target add "$TARGET" >/dev/null 2>&1; then
    exec cargo "$@" --target "$TARGET"
  fi
fi

echo "cargo-wasm: rustup has no $TARGET target here; using Debian's rustc-web with build-std" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ! -x /usr/bin/rustc ] || [ ! -x /usr/bin/wasm-ld-22 ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "rustc-web=$DEBIAN_RUST_VERSION" "cargo-web=$DEBIAN_RUST_VERSION" \
    "rust-web-src=$DEBIAN_RUST_VERSION" lld-22 >/dev/null
fi
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
# A target directory of its own: artefacts of two compilers never mix.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/wasm-debian}"
exec cargo -Z build-std=std,panic_abort "$@" --target "$TARGET"
