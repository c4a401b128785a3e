#!/usr/bin/env bash
# Installs what herdgate needs on a fresh Debian 12 machine, and nothing it already has.
# Safe to run again. Called by scripts/test.sh, scripts/demo.sh and .ci/run.
#
#   redis-server, redis-benchmark   Debian's redis-server and redis-tools
#   python3                         known-answer vector generator (already on Debian)
#   openssl                         certificates for the Redis-over-TLS test (already on Debian)
#   chromium                        Debian's Chromium, for the waiting-room browser tests
#                                   (driven by playwright-core from package-lock.json)
#   localstripe                     PyPI's localstripe (an independent implementation of Stripe's
#                                   API, for the card-hold tests and the demo) in a virtualenv at
#                                   target/localstripe, pinned in scripts/localstripe-requirements.txt
#   wasm32 target                   scripts/cargo-wasm.sh sets it up on first use
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/localstripe"
want="$(grep -v '^#' "$root/scripts/localstripe-requirements.txt")"
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing $want into target/localstripe"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/scripts/localstripe-requirements.txt"
  echo "$want" >"$venv/.installed"
fi

command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo is missing; install Rust from https://rustup.rs" >&2
  exit 1
}
echo "setup: $(redis-server --version | cut -d' ' -f1-3), $(cargo --version)"
