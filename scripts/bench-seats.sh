#!/usr/bin/env bash
# Seat holds: herdgate's Lua (lua/seats.lua in redis-server) against PostgreSQL with
# `SELECT … FOR UPDATE NOWAIT`, a version column, a naive read-then-write and `SKIP LOCKED`,
# the same buyers against each; writes its section of BENCHMARKS.md.
#
#   scripts/bench-seats.sh                      # 5,000 buyers, 32 workers
#   BUYERS=20000 CONCURRENCY=64 scripts/bench-seats.sh
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# PostgreSQL only for this benchmark: Debian's package (the server is started by the
# benchmark itself, on a free loopback port, and stopped by its PID).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "bench-seats: installing postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
cargo build --release --locked -p herdgate-bench
exec target/release/herdgate-bench seats \
  --buyers "${BUYERS:-5000}" --concurrency "${CONCURRENCY:-32}" --write BENCHMARKS.md
