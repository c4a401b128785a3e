# Sourced by scripts/cargo-wasm.sh and scripts/build-worker.sh: makes a toolchain that can build
# wasm32-unknown-unknown available and exports what cargo needs to use it.
#
# 1. rustup's own target (`rustup target add wasm32-unknown-unknown`), where it can be had;
# 2. otherwise Debian's rustc-web (pinned) with the standard library built from its sources
#    (`-Z build-std`, allowed by RUSTC_BOOTSTRAP), linked by wasm-ld-22: the route
#    ../shared/TOOLCHAIN.md describes for machines whose rustup cannot download a target.
#
# Sets WASM_ROUTE to `rustup` or `debian`. On the Debian route it exports RUSTC,
# RUSTC_BOOTSTRAP, the linker, CARGO_UNSTABLE_BUILD_STD and a target directory of its own
# (artefacts of two compilers never mix), under "$1" (the repository root).

WASM_TARGET=wasm32-unknown-unknown
WASM_DEBIAN_RUST_VERSION="1.96.0+dfsg1-1~deb12u2"

wasm_root="$1"
if command -v rustup >/dev/null 2>&1 \
  && { rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET" \
    || timeout 180 rustup target add "$WASM_TARGET" >/dev/null 2>&1; }; then
  WASM_ROUTE=rustup
else
  WASM_ROUTE=debian
  echo "wasm: rustup has no $WASM_TARGET target here; using Debian's rustc-web with build-std" >&2
  wasm_sudo=""
  if [ "$(id -u)" -ne 0 ]; then wasm_sudo="sudo"; fi
  if [ ! -x /usr/bin/rustc ] || [ ! -x /usr/bin/wasm-ld-22 ] || [ ! -d /usr/lib/rustlib/src/rust/library ]; then
    $wasm_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $wasm_sudo apt-get install -y -qq --no-install-recommends \
      "rustc-web=$WASM_DEBIAN_RUST_VERSION" "cargo-web=$WASM_DEBIAN_RUST_VERSION" \
      "rust-web-src=$WASM_DEBIAN_RUST_VERSION" lld-22 >/dev/null
  fi
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
  export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$wasm_root/target/wasm-debian}"
fi
export WASM_ROUTE WASM_TARGET
