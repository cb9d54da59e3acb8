#!/usr/bin/env bash
# Builds the test HTTP handlers (tests/wasm_common/http/app.py and app.js) into
# `wasi:http/proxy` components, the way users build them, with the same tools and versions as
# the tests (tests/wasm_common/http.rs):
#   python.wasm  componentize-py (Python registry, in a virtualenv under target/componentize-py)
#   js.wasm      jco + ComponentizeJS (npm registry, under target/jco)
# The wasi:http WIT files come from the wasmtime-wasi-http crate runw builds with (cargo fetch).
#
# Usage: hack/build-http-handlers.sh [OUTDIR] (default target/http-handlers)
# Then, e.g.: mkdir -p rootfs/app && cp OUTDIR/python.wasm rootfs/app/handler.wasm, set
# process.args to ["/app/handler.wasm"] and WASMTIME_HTTP_PROXY_SOCKET_ADDR in process.env.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

COMPONENTIZE_PY=0.25.1
JCO=1.35.0
COMPONENTIZE_JS=0.23.0

out=${1:-target/http-handlers}
mkdir -p "$out"
out=$(realpath "$out")
src=$PWD/tests/wasm_common/http

version=$(awk '/^name = "wasmtime-wasi-http"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[[ -n "$version" ]] || { echo "build-http-handlers.sh: wasmtime-wasi-http is not in Cargo.lock" >&2; exit 1; }
wit=""
for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"wasmtime-wasi-http-$version"/wit; do
    [[ -f "$dir/deps/http.wit" ]] && wit=$dir
done
if [[ -z "$wit" ]]; then
    cargo fetch --quiet
    for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"wasmtime-wasi-http-$version"/wit; do
        [[ -f "$dir/deps/http.wit" ]] && wit=$dir
    done
fi
[[ -n "$wit" ]] || { echo "build-http-handlers.sh: no WIT files of wasmtime-wasi-http $version" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Python: componentize-py -d WIT -w wasi:http/proxy componentize app -o OUT
venv=target/componentize-py
if [[ ! -e "$venv/installed-$COMPONENTIZE_PY" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY"
    touch "$venv/installed-$COMPONENTIZE_PY"
fi
mkdir "$work/py"
cp "$src/app.py" "$work/py/"
(cd "$work/py" && "$OLDPWD/$venv/bin/componentize-py" -d "$wit" -w wasi:http/proxy componentize app -o "$out/python.wasm")

# JavaScript: jco componentize app.js --wit wit -n wasi:http/proxy -o OUT, with the two
# workarounds explained in tests/wasm_common/http.rs (preopens for jco's WIT reader, wasi:http
# labelled 0.2.10 for StarlingMonkey's fetch event).
jco_dir=target/jco
if [[ ! -e "$jco_dir/installed-$JCO-$COMPONENTIZE_JS" ]]; then
    mkdir -p "$jco_dir"
    echo '{"name":"runw-test-jco","private":true}' > "$jco_dir/package.json"
    (cd "$jco_dir" && npm install --no-audit --no-fund --silent \
        "@bytecodealliance/jco@$JCO" "@bytecodealliance/componentize-js@$COMPONENTIZE_JS")
    touch "$jco_dir/installed-$JCO-$COMPONENTIZE_JS"
fi
mkdir "$work/js"
cp "$src/app.js" "$work/js/"
cp -r "$wit" "$work/js/wit"
from=$(sed -n 's/^package wasi:http@\(.*\);/\1/p' "$work/js/wit/deps/http.wit")
sed -i "s/^package wasi:http@$from;/package wasi:http@0.2.10;/" "$work/js/wit/deps/http.wit"
sed -i "s|wasi:http/proxy@$from|wasi:http/proxy@0.2.10|" "$work/js/wit/world.wit"
i=0
find "$PWD/$jco_dir" -path '*preview2-shim/dist/nodejs/filesystem.js' | while read -r shim; do
    echo "import { _setPreopens as p$i } from \"$shim\"; p$i({ \"/\": \"/\" });"
    i=$((i + 1))
done > "$work/js/preopen.mjs"
(cd "$work/js" && node --import "$work/js/preopen.mjs" "$(realpath "$OLDPWD/$jco_dir/node_modules/.bin/jco")" \
    componentize app.js --wit wit -n wasi:http/proxy -o "$out/js.wasm")

ls -l "$out"/python.wasm "$out"/js.wasm
