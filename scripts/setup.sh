#!/usr/bin/env bash
# Installs what herdgate needs on a fresh Debian 12 machine, and nothing it already has.
# Safe to run again. Called by scripts/test.sh, scripts/demo.sh and .ci/run.
#
#   redis-server, redis-benchmark   Debian's redis-server and redis-tools
#   python3                         known-answer vector generator (already on Debian)
#   chromium                        Debian's Chromium, for the waiting-room browser tests
#                                   (driven by playwright-core from package-lock.json)
#   wasm32 target                   scripts/cargo-wasm.sh sets it up on first use
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -x /usr/bin/chromium ] || missing+=(chromium)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo is missing; install Rust from https://rustup.rs" >&2
  exit 1
}
echo "setup: $(redis-server --version | cut -d' ' -f1-3), $(cargo --version)"
