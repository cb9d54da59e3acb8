#!/usr/bin/env bash
# Benchmark (not a test): wall time of `runw run` for a ~200 KB C hello-world Wasm module with a
# cold and a warm compiled-code cache, beside a busybox `echo` Linux container under runw and
# under runc. Prints medians and ratios, then the RSS and thread count of a running Wasm
# container's init. Run as root: hack/bench-wasm.sh [N] (default 30 runs each).
#
# Needs: a release build (cargo build --release), busybox-static, clang + wasi-libc
# (Debian: clang lld wasi-libc libclang-rt-14-dev-wasm32), runc for the comparison.
set -euo pipefail

N=${1:-30}
HERE=$(cd "$(dirname "$0")/.." && pwd)
RUNW=${RUNW:-$HERE/target/release/runw}
RUNC=${RUNC:-$(command -v runc || true)}
WORK=$(mktemp -d /tmp/runw-bench.XXXXXX)
ROOT=$WORK/root
cleanup() {
    for id in $("$RUNW" --root "$ROOT" list -q 2>/dev/null); do
        "$RUNW" --root "$ROOT" delete -f "$id" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

[ -x "$RUNW" ] || { echo "build runw first: cargo build --release" >&2; exit 1; }
command -v clang >/dev/null && [ -e /usr/lib/wasm32-wasi/libc.a ] ||
    { echo "needs clang and wasi-libc (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)" >&2; exit 1; }

# bundle DIR ARGS_JSON: a busybox rootfs and a config.json from `runw spec`.
bundle() {
    local dir=$1 args=$2
    mkdir -p "$dir/rootfs"/{bin,app,proc,dev,sys,tmp}
    cp /bin/busybox "$dir/rootfs/bin/busybox"
    for a in sh echo sleep; do ln -sf busybox "$dir/rootfs/bin/$a"; done
    "$RUNW" spec --bundle "$dir"
    python3 - "$dir/config.json" "$args" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
json.dump(c, open(path, "w"))
PY
}

# A hello world that uses stdio, the environment and formatted output, as a real one does:
# with wasi-libc that is a ~200 KB module.
cat >"$WORK/hello.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const char *who = getenv("WHO");
    printf("hello from wasm, %s (%d args, %.1f%%)\n", who ? who : "world", argc, 100.0);
    FILE *f = fopen("/etc/hostname", "r");
    if (f) fclose(f);
    return 0;
}
C
cat >"$WORK/sleep.c" <<'C'
#include <unistd.h>
int main(void) { sleep(30); return 0; }
C
bundle "$WORK/wasm" '["/app/hello.wasm"]'
clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$WORK/wasm/rootfs/app/hello.wasm" "$WORK/hello.c"
bundle "$WORK/sleep" '["/app/sleep.wasm"]'
clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$WORK/sleep/rootfs/app/sleep.wasm" "$WORK/sleep.c"
bundle "$WORK/linux" '["echo", "hello from linux"]'
echo "module: $(stat -c %s "$WORK/wasm/rootfs/app/hello.wasm") bytes; $N runs each"

# time_ms CMD...: wall milliseconds of one run (output discarded).
time_ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >"$WORK/out" 2>&1 || { cat "$WORK/out" >&2; return 1; }
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000))
}

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1000}'; }

declare -A RESULT
measure() {
    local name=$1; shift
    local i samples=()
    for ((i = 0; i < N; i++)); do
        samples+=("$("$@" "$i")")
    done
    RESULT[$name]=$(printf '%s\n' "${samples[@]}" | median)
    printf '%-28s median %8s ms\n' "$name" "${RESULT[$name]}"
}

wasm_cold() { time_ms "$RUNW" --root "$ROOT" --wasm-cache "$WORK/cold-$1" run -b "$WORK/wasm" "cold$1"; rm -rf "$WORK/cold-$1"; }
wasm_warm() { time_ms "$RUNW" --root "$ROOT" --wasm-cache "$WORK/warm" run -b "$WORK/wasm" "warm$1"; }
linux_runw() { time_ms "$RUNW" --root "$ROOT" run -b "$WORK/linux" "linux$1"; }
linux_runc() { time_ms "$RUNC" --root "$WORK/runc-root" run -b "$WORK/linux" "runc$1"; }

# Warm-up: page cache, and the warm cache entry.
"$RUNW" --root "$ROOT" --wasm-cache "$WORK/warm" run -b "$WORK/wasm" warmup >/dev/null
"$RUNW" --root "$ROOT" run -b "$WORK/linux" warmup >/dev/null

measure "wasm (cold cache)" wasm_cold
measure "wasm (warm cache)" wasm_warm
measure "busybox echo (runw)" linux_runw
if [ -n "$RUNC" ]; then
    measure "busybox echo (runc)" linux_runc
fi

ratio() { awk -v a="${RESULT[$1]}" -v b="${RESULT[$2]}" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "warm wasm / runw busybox:  $(ratio 'wasm (warm cache)' 'busybox echo (runw)')x   (target <= 1.2x)"
echo "cold wasm / runw busybox:  $(ratio 'wasm (cold cache)' 'busybox echo (runw)')x"
if [ -n "$RUNC" ]; then
    echo "warm wasm / runc busybox:  $(ratio 'wasm (warm cache)' 'busybox echo (runc)')x"
    echo "runw busybox / runc busybox: $(ratio 'busybox echo (runw)' 'busybox echo (runc)')x"
fi

# Footprint of a running Wasm container's init (a module sleeping in poll_oneoff).
"$RUNW" --root "$ROOT" --wasm-cache "$WORK/warm" create -b "$WORK/sleep" rss
"$RUNW" --root "$ROOT" start rss
sleep 0.3
pid=$("$RUNW" --root "$ROOT" state rss | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
threads=$(ls "/proc/$pid/task" | wc -l)
echo
echo "wasm container init: RSS ${rss} KiB, ${threads} thread(s)"
"$RUNW" --root "$ROOT" delete -f rss
