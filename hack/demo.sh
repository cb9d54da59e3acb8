#!/usr/bin/env bash
# The main job, end to end: install what is needed, build runw, and run containers with it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

. hack/setup.sh
cargo build --release
runw=$PWD/target/release/runw
work=$(mktemp -d /tmp/runw-demo.XXXXXX)
root=$work/state
trap 'rm -rf "$work"' EXIT

echo "== $("$runw" --version | head -1)"

# --- Linux container: busybox rootfs, run in the foreground, output and exit status ------
hack/make-bundle.sh "$work/linux" sh -c \
    'echo "hello from a Linux container: $(hostname), uid $(id -u), pid $$"; uname -sm; exit 0'
echo "== runw run linux-demo"
status=0
"$runw" --root "$root" run --bundle "$work/linux" "linux-demo-$$" || status=$?
echo "== linux container exited with status $status"
[[ $status -eq 0 ]]

# --- Wasm container ------------------------------------------------------------------------
# (The Wasm engineer adds the WebAssembly container here: build a .wasm module, make a bundle
#  whose process runs it, and `runw run` it the same way as above.)

echo "== demo done"
