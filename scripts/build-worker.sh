#!/usr/bin/env bash
# Builds the edge worker to what wrangler.toml points at: edge-worker/build/index.js and
# edge-worker/build/index_bg.wasm. Gets, on first run, everything it needs:
#
#   npm packages      from package-lock.json (wrangler, miniflare/workerd, Node 22, esbuild,
#                     binaryen's wasm-opt): `npm ci`
#   wasm32 target     rustup's, or Debian's rustc-web with build-std (scripts/wasm-env.sh)
#   wasm-bindgen-cli  0.2.130 (must equal the wasm-bindgen in Cargo.lock), cargo install
#   worker-build      0.8.7, cargo install
#
# worker-build is told where wasm-bindgen, wasm-opt and esbuild are, so it downloads nothing.
# The two cargo installs take ~15 minutes of compiling once; they land in $CARGO_HOME/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

WASM_BINDGEN_VERSION=0.2.130
WORKER_BUILD_VERSION=0.8.7
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm ci` installs exactly what the committed lock says and never rewrites it, so a build
  # leaves the working tree clean. The lock names every platform's optional workerd binary.
  echo "build-worker: npm ci (locked versions)"
  npm ci --no-audit --no-fund >/dev/null
fi
export PATH="$root/node_modules/.bin:$CARGO_BIN:$PATH"

installed() { # name version
  [ -x "$CARGO_BIN/$1" ] && "$CARGO_BIN/$1" --version 2>/dev/null | grep -q "$2"
}
if ! installed wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  echo "build-worker: cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (once, ~6 min)"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if ! installed worker-build "$WORKER_BUILD_VERSION"; then
  echo "build-worker: cargo install worker-build $WORKER_BUILD_VERSION (once, ~10 min)"
  cargo install -q worker-build --version "$WORKER_BUILD_VERSION"
fi

export WASM_BINDGEN_BIN="$CARGO_BIN/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"

# shellcheck source=scripts/wasm-env.sh
. "$root/scripts/wasm-env.sh" "$root"
if [ "$WASM_ROUTE" = debian ]; then
  # worker-build asks rustc for the wasm32 target's library directory and refuses when the
  # sysroot has none (build-std makes it), so a wrapper answers that one question with an
  # empty directory and passes everything else to Debian's rustc.
  shim="$root/target/rustc-wasm-shim"
  mkdir -p "$shim/lib"
  cat >"$shim/rustc" <<SHIM
#!/usr/bin/env bash
case "\$*" in
  *--print*target-libdir*wasm32*|*wasm32*--print*target-libdir*) echo "$shim/lib"; exit 0 ;;
esac
exec /usr/bin/rustc "\$@"
SHIM
  chmod +x "$shim/rustc"
  export RUSTC="$shim/rustc"
fi

# worker-build runs wasm-bindgen and wasm-opt again on every call (half a minute), whether or
# not anything changed: the build is skipped when its inputs are the ones the last build was
# made from (every file of the worker and of the crates it compiles in, the lock files, the
# tools' versions and this script). HERDGATE_REBUILD=1 builds anyway.
inputs=$(mktemp)
find edge-worker crates/herdgate-core crates/herdgate-pay -path edge-worker/build -prune \
  -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum >"$inputs"
sha256sum Cargo.toml Cargo.lock package-lock.json scripts/build-worker.sh scripts/wasm-env.sh >>"$inputs"
for config in "${CARGO_HOME:-$HOME/.cargo}/config.toml" "${CARGO_HOME:-$HOME/.cargo}/config"; do
  if [ -f "$config" ]; then sha256sum "$config" >>"$inputs"; fi
done
{
  echo "$WASM_BINDGEN_VERSION $WORKER_BUILD_VERSION $WASM_ROUTE"
  env | grep -E '^(RUSTFLAGS|CARGO_ENCODED_RUSTFLAGS|CARGO_BUILD_|CARGO_TARGET_WASM32|CARGO_PROFILE_RELEASE)' |
    LC_ALL=C sort || true
  "${RUSTC:-rustc}" --version
  "$WASM_OPT_BIN" --version
  "$ESBUILD_BIN" --version
} >>"$inputs"
stamp=$(sha256sum <"$inputs" | cut -d' ' -f1)
rm -f "$inputs"
cd edge-worker
if [ -z "${HERDGATE_REBUILD:-}" ] && [ -s build/index.js ] && [ -s build/index_bg.wasm ] &&
  [ "$(cat build/.inputs 2>/dev/null)" = "$stamp" ]; then
  echo "build-worker: up to date (its inputs are unchanged; HERDGATE_REBUILD=1 builds anyway)"
else
  rm -f build/.inputs
  worker-build --release
  echo "$stamp" >build/.inputs
fi
ls -l build/index.js build/index_bg.wasm
