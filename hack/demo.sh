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

# --- A Linux container and a Wasm container, side by side ---------------------------------
# Linux: a busybox rootfs. Wasm: a rootfs holding only a module compiled from C with
# clang + wasi-libc; runw sees the `\0asm` magic bytes of the entrypoint and runs it in-process.
hack/make-bundle.sh "$work/linux" sh -c \
    'echo "hello from a Linux container: $(hostname), uid $(id -u), pid $$"; uname -sm'

cat > "$work/hello.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    printf("hello from a WebAssembly container: %s, GREETING=%s\n", argv[0], getenv("GREETING"));
    return 0;
}
EOF
hack/make-bundle.sh "$work/wasm" /hello.wasm
rm -rf "$work/wasm/rootfs" && mkdir -p "$work/wasm/rootfs"
clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$work/wasm/rootfs/hello.wasm" "$work/hello.c"
sed -i 's|"TERM=xterm"|"TERM=xterm", "GREETING=hi"|' "$work/wasm/config.json"

# run NAME BUNDLE: `runw run` in the background, its output prefixed with the name.
run() {
    local name=$1 bundle=$2
    { "$runw" --root "$root" run --bundle "$bundle" "$name-demo-$$" 2>&1; echo "exit status $?"; } |
        sed "s/^/[$name] /"
}
echo "== runw run: a Linux and a Wasm container at the same time"
run linux "$work/linux" > "$work/linux.out" &
run wasm "$work/wasm" > "$work/wasm.out" &
wait
cat "$work/linux.out" "$work/wasm.out"
grep -q '^\[linux\] exit status 0$' "$work/linux.out"
grep -q '^\[wasm\] exit status 0$' "$work/wasm.out"

echo "== demo done"
