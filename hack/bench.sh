#!/usr/bin/env bash
# Benchmark (NOT a test): runw side by side with runc (and youki when YOUKI=/path is set).
#
#   hack/bench.sh [N]          (or N=.. hack/bench.sh; default N=10 iterations per measurement)
#   YOUKI=/path/to/youki hack/bench.sh 20
#   SKIP_CTR=1 hack/bench.sh   skip part 4 (ctr run through the stock shim)
#   NO_BUILD=1 hack/bench.sh   use the existing target/release/runw (no cargo build)
#   DENSITY=50                 number of Wasm containers in the density measurement
#   PARTS="2 3" hack/bench.sh  only some of the parts below (default: all four)
#
# Measures (wall milliseconds, N samples each; see docs/benchmarks.md):
#   1. Linux lifecycle of a busybox `true` container: create, start, wait-for-exit, delete
#      separately, and the total of `run`.
#   2. Wasm: `runw run` of a WAT and a ~200 KB C hello world, cold and warm compiled-code
#      cache, beside a busybox `echo` Linux container under runw and runc; and a CPU-bound C
#      module (fib(32)), warm cache. On every engine runw has: wasmtime, and WasmEdge when
#      runw is built with it (done here when libwasmedge is installed: hack/install-wasmedge.sh),
#      with WasmEdge's ratios to wasmtime.
#   3. Memory: VmRSS and Pss of the init of a Linux `sleep` container and of a sleeping Wasm
#      container; sum of Pss of 50 Wasm containers running at once.
#   4. `ctr run --rm` of a Linux and a Wasm image through a private containerd and the stock
#      containerd-shim-runc-v2 (runw vs runc; runc cannot run the Wasm image).
# Output: bench-results/bench-<date>.md (printed too) and bench-results/bench-<date>.png (the
# samples grouped by measurement, one colour per runtime and engine).
# Every call is guarded with `timeout 10`; timeouts are counted as hangs in the report.
# Run as root. Everything (containers, private roots, containerd, temp dirs) is cleaned up
# on exit, including Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-${N:-10}}
DENSITY=${DENSITY:-50}
PARTS=${PARTS:-1 2 3 4}
RUNW=$HERE/target/release/runw
RUNC=${RUNC:-/usr/sbin/runc}
YOUKI=${YOUKI:-}
STAMP=$(date -u +%Y%m%d-%H%M%S)
OUTDIR=$HERE/bench-results
REPORT=$OUTDIR/bench-$STAMP.md
PLOT=$OUTDIR/bench-$STAMP.png
WORK=$(mktemp -d /tmp/runw-bench.XXXXXX)
SAMPLES=$WORK/samples
mkdir -p "$SAMPLES" "$OUTDIR"
CTRD_PID=

# ---------------------------------------------------------------- cleanup -------------------
# cleanup: force-delete every container in every private root, stop our containerd, rm temp.
cleanup() {
    set +e
    local root rt id
    for root in "$WORK"/root-*; do
        [ -d "$root" ] || continue
        rt=${root##*/root-}
        case $rt in runw*) bin=$RUNW ;; runc*) bin=$RUNC ;; youki*) bin=$YOUKI ;; *) continue ;; esac
        for id in $(timeout 10 "$bin" --root "$root" list -q 2>/dev/null); do
            timeout 10 "$bin" --root "$root" delete -f "$id" >/dev/null 2>&1
        done
    done
    if [ -n "$CTRD_PID" ]; then
        kill "$CTRD_PID" 2>/dev/null; wait "$CTRD_PID" 2>/dev/null
    fi
    # The shims of ctr's containers exit with their tasks; unmount anything left under WORK.
    grep " $WORK" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- setup ---------------------
setup() {
    # shellcheck source=hack/setup.sh
    . "$HERE/hack/setup.sh"
    local pkg missing=()
    for pkg in gnuplot-nox wabt; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
            echo "bench: could not install ${missing[*]} (no plot / no WAT module)" >&2
    fi
    # NO_BUILD=1 uses the existing target/release/runw (the build takes minutes on 2 cores).
    # With WasmEdge installed, runw is built with both engines.
    local features=()
    /sbin/ldconfig -p 2>/dev/null | grep -q "libwasmedge.so.0 " && features=(--features wasmedge)
    if [ -z "${NO_BUILD:-}" ] || [ ! -x "$RUNW" ]; then
        (cd "$HERE" && cargo build --release -q "${features[@]}")
    fi
    ENGINES=(wasmtime)
    "$RUNW" --version | grep -q "wasmedge " && ENGINES+=(wasmedge)
    echo "bench: wasm engines: ${ENGINES[*]}" >&2
}

# bundle DIR ARGS_JSON: a busybox rootfs and a config.json from `runw spec`, no terminal.
bundle() {
    local dir=$1 args=$2
    mkdir -p "$dir/rootfs"/{bin,app,proc,dev,sys,tmp,etc}
    cp /bin/busybox "$dir/rootfs/bin/busybox"
    for a in sh echo sleep true; do ln -sf busybox "$dir/rootfs/bin/$a"; done
    echo bench >"$dir/rootfs/etc/hostname"
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

# annotate_wasm CONFIG: add youki's (and crun's) wasm handler annotation.
annotate_wasm() {
    python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.setdefault("annotations", {})["run.oci.handler"] = "wasm"
json.dump(c, open(sys.argv[1], "w"))
PY
}

# make_bundles: Linux true/echo/sleep, Wasm hello (C, WAT) and a sleeping Wasm module.
make_bundles() {
    bundle "$WORK/true" '["true"]'
    bundle "$WORK/echo" '["echo", "hello from linux"]'
    bundle "$WORK/sleep" '["sleep", "100"]'
    # C hello world: stdio + env + printf, ~200 KB with wasi-libc.
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
    printf '#include <unistd.h>\nint main(void) { sleep(100); return 0; }\n' >"$WORK/wsleep.c"
    # CPU-bound: about 7 million calls; the argument comes from argv so nothing is folded.
    cat >"$WORK/fib.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int main(int argc, char **argv) {
    printf("%d\n", fib(argc > 1 ? atoi(argv[1]) : 32));
    return 0;
}
C
    bundle "$WORK/wasm-fib" '["/app/fib.wasm", "32"]'
    clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$WORK/wasm-fib/rootfs/app/fib.wasm" "$WORK/fib.c"
    bundle "$WORK/wasm-c" '["/app/hello.wasm"]'
    clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$WORK/wasm-c/rootfs/app/hello.wasm" "$WORK/hello.c"
    bundle "$WORK/wasm-sleep" '["/app/sleep.wasm"]'
    clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$WORK/wasm-sleep/rootfs/app/sleep.wasm" "$WORK/wsleep.c"
    if [ -n "$YOUKI" ]; then
        # youki runs a module only with the wasm handler annotation.
        cp -a "$WORK/wasm-sleep" "$WORK/wasm-sleep-youki"
        annotate_wasm "$WORK/wasm-sleep-youki/config.json"
    fi
    HAVE_WAT=
    if command -v wat2wasm >/dev/null; then
        bundle "$WORK/wasm-wat" '["/app/hello.wasm"]'
        cat >"$WORK/hello.wat" <<'WAT'
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from wat\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 15))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
WAT
        wat2wasm -o "$WORK/wasm-wat/rootfs/app/hello.wasm" "$WORK/hello.wat" && HAVE_WAT=1
    fi
    C_SIZE=$(stat -c %s "$WORK/wasm-c/rootfs/app/hello.wasm")
}

# ---------------------------------------------------------------- timing helpers ------------
HANGS_runw=0 HANGS_runc=0 HANGS_youki=0 HANGS_ctr=0
now_us() { echo $(($(date +%s%N) / 1000)); }
hang() { eval "HANGS_$1=\$((HANGS_$1 + 1))"; }

# guard RT CMD...: run an untimed CMD, output discarded; after 10 s it is killed (TERM, then
# KILL 2 s later: youki blocks TERM while it waits) and counted as a hang of RT.
guard() {
    local rt=$1 rc=0; shift
    timeout -k 2 10 "$@" >"$WORK/out" 2>&1 </dev/null || rc=$?
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        hang "$rt"
    elif [ $rc -ne 0 ]; then
        echo "bench: [$rt] exit $rc: $*" >&2; tail -3 "$WORK/out" >&2
    fi
    return $rc
}

# timeit.py OUT CMD...: runs CMD once (stdout/stderr to OUT), prints "STATUS MICROSECONDS".
# The clock covers the runtime's own process only (its fork/exec included), not the `timeout`
# and `date` processes a shell measurement would add to every sample. Hangs: killed after
# 10 s, status 124.
write_timer() {
    cat >"$WORK/timeit.py" <<'PY'
import subprocess, sys, threading, time
out, cmd = sys.argv[1], sys.argv[2:]
with open(out, "wb") as sink:
    t0 = time.perf_counter_ns()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    # Not wait(timeout=...): that polls with sleeps of up to 50 ms, which would round samples.
    hung = []
    killer = threading.Timer(10, lambda: (hung.append(1), child.kill()))
    killer.start()
    status = child.wait()
    elapsed = (time.perf_counter_ns() - t0) // 1000
    killer.cancel()
if hung:
    status = 124
print(status if status >= 0 else 128 - status, elapsed)
PY
}

# sample NAME US: append one sample (microseconds) to measurement NAME.
sample() { echo "$2" >>"$SAMPLES/$1"; }

# timed NAME RT CMD...: time one command into NAME; a failure or hang gives no sample.
timed() {
    local name=$1 rt=$2 result status; shift 2
    result=$(python3 "$WORK/timeit.py" "$WORK/out" "$@")
    status=${result% *}
    case $status in
    0) sample "$name" "${result#* }" ;;
    124) hang "$rt" ;;
    *) echo "bench: [$rt] exit $status: $*" >&2; tail -3 "$WORK/out" >&2 ;;
    esac
    return "$status"
}

# wait_stopped BIN ROOT ID: poll `state` until the container has stopped (max 10 s).
wait_stopped() {
    local i
    for ((i = 0; i < 10000; i++)); do
        "$1" --root "$2" state "$3" 2>/dev/null | grep -q '"status": *"stopped"' && return 0
        sleep 0.001
    done
    return 124
}

# ---------------------------------------------------------------- 1. Linux lifecycle --------
# lifecycle_round RT BIN I: create/start/wait/delete of a `true` container, then one `run`.
lifecycle_round() {
    local rt=$1 bin=$2 i=$3 root=$WORK/root-$1 id=lc$3 t0
    timed "$rt create" "$rt" "$bin" --root "$root" create -b "$WORK/true" "$id" || return 0
    timed "$rt start" "$rt" "$bin" --root "$root" start "$id" || true
    t0=$(now_us)
    if wait_stopped "$bin" "$root" "$id"; then sample "$rt wait-exit" $(($(now_us) - t0))
    else hang "$rt"; fi
    timed "$rt delete" "$rt" "$bin" --root "$root" delete -f "$id" || true
    timed "$rt run (true)" "$rt" "$bin" --root "$root" run -b "$WORK/true" "run$i" || true
}

# lifecycle: N rounds, the runtimes taking turns in each round so that a change in the
# machine's load during the run affects all of them alike.
lifecycle() {
    local i
    for ((i = 0; i < N; i++)); do
        lifecycle_round runw "$RUNW" "$i"
        lifecycle_round runc "$RUNC" "$i"
        [ -z "$YOUKI" ] || lifecycle_round youki "$YOUKI" "$i"
    done
}

# ---------------------------------------------------------------- 2. Wasm hello -------------
# wasm_engine ENGINE: cold and warm hello worlds and the warm fib(32) under one engine.
wasm_engine() {
    local engine=$1 root=$WORK/root-runw i m
    local -A mods=([C]=wasm-c)
    [ -n "$HAVE_WAT" ] && mods[WAT]=wasm-wat
    local runw=("$RUNW" --root "$root" --wasm-engine "$engine")
    local warm=$WORK/cache-warm-$engine cold=$WORK/cache-cold-$engine
    for m in "${!mods[@]}"; do
        # warm the cache once (not sampled)
        guard runw "${runw[@]}" --wasm-cache "$warm" run -b "$WORK/${mods[$m]}" "w$m-warmup-$engine" || true
        for ((i = 0; i < N; i++)); do
            rm -rf "$cold"
            timed "runw $engine $m hello (cold)" runw "${runw[@]}" --wasm-cache "$cold" run -b "$WORK/${mods[$m]}" "c$m$i-$engine" || true
            timed "runw $engine $m hello (warm)" runw "${runw[@]}" --wasm-cache "$warm" run -b "$WORK/${mods[$m]}" "w$m$i-$engine" || true
        done
    done
    guard runw "${runw[@]}" --wasm-cache "$warm" run -b "$WORK/wasm-fib" "fib-warmup-$engine" || true
    for ((i = 0; i < N; i++)); do
        timed "runw $engine fib(32) (warm)" runw "${runw[@]}" --wasm-cache "$warm" run -b "$WORK/wasm-fib" "fib$i-$engine" || true
    done
}

wasm_hello() {
    local root=$WORK/root-runw i engine
    for engine in "${ENGINES[@]}"; do wasm_engine "$engine"; done
    for ((i = 0; i < N; i++)); do
        timed "runw busybox echo" runw "$RUNW" --root "$root" run -b "$WORK/echo" "e$i" || true
        timed "runc busybox echo" runc "$RUNC" --root "$WORK/root-runc" run -b "$WORK/echo" "e$i" || true
        [ -n "$YOUKI" ] && timed "youki busybox echo" youki "$YOUKI" --root "$WORK/root-youki" run -b "$WORK/echo" "e$i" || true
    done
    if [ -n "$YOUKI" ]; then
        # youki with its wasmtime executor: needs the wasm handler annotation on the same module.
        annotate_wasm "$WORK/wasm-c/config.json"
        for ((i = 0; i < N; i++)); do
            timed "youki wasm C hello" youki "$YOUKI" --root "$WORK/root-youki" run -b "$WORK/wasm-c" "yw$i" || true
        done
    fi
}

# ---------------------------------------------------------------- 3. Memory -----------------
# mem_of RT BIN ROOT ID: "VmRSS_KiB Pss_KiB" of the container's init.
mem_of() {
    local pid
    pid=$(timeout 10 "$2" --root "$3" state "$4" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
    echo "$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")"
}

# mem_one RT BIN BUNDLE LABEL: start one sleeping container, record its RSS/Pss, delete it.
mem_one() {
    local rt=$1 bin=$2 b=$3 label=$4 root=$WORK/root-$1 m cache=()
    [ "$rt" = runw ] && cache=(--wasm-cache "$WORK/cache-warm")
    guard "$rt" "$bin" --root "$root" "${cache[@]}" create -b "$WORK/$b" mem || return 0
    guard "$rt" "$bin" --root "$root" start mem || true
    sleep 0.5
    m=$(mem_of "$rt" "$bin" "$root" mem)
    MEM+=("| $label | ${m% *} | ${m#* } |")
    MEMVAL[$label]=${m% *}
    guard "$rt" "$bin" --root "$root" delete -f mem || true
}

# density: DENSITY sleeping Wasm containers at once, sum of their inits' Pss.
density() {
    local root=$WORK/root-runw-density i total=0 rss=0 m up=0
    for ((i = 0; i < DENSITY; i++)); do
        guard runw "$RUNW" --root "$root" --wasm-cache "$WORK/cache-warm" create -b "$WORK/wasm-sleep" "d$i" &&
            guard runw "$RUNW" --root "$root" start "d$i" && up=$((up + 1))
    done
    sleep 1
    for ((i = 0; i < DENSITY; i++)); do
        m=$(mem_of runw "$RUNW" "$root" "d$i" 2>/dev/null) || continue
        rss=$((rss + ${m% *})); total=$((total + ${m#* }))
    done
    DENSITY_LINE="$up of $DENSITY Wasm containers running: sum of Pss $((total / 1024)) MiB ($((total / (up ? up : 1))) KiB each), sum of VmRSS $((rss / 1024)) MiB"
    for ((i = 0; i < DENSITY; i++)); do guard runw "$RUNW" --root "$root" delete -f "d$i" || true; done
}

memory() {
    MEM=("| init of | VmRSS KiB | Pss KiB |" "|---|---:|---:|")
    declare -gA MEMVAL
    mem_one runw "$RUNW" sleep "runw Linux sleep"
    mem_one runc "$RUNC" sleep "runc Linux sleep"
    [ -n "$YOUKI" ] && mem_one youki "$YOUKI" sleep "youki Linux sleep"
    mem_one runw "$RUNW" wasm-sleep "runw Wasm sleep(100)"
    if [[ " ${ENGINES[*]} " == *" wasmedge "* ]]; then
        RUNW_WASM_ENGINE=wasmedge mem_one runw "$RUNW" wasm-sleep "runw WasmEdge sleep(100)"
    fi
    [ -z "$YOUKI" ] || mem_one youki "$YOUKI" wasm-sleep-youki "youki Wasm sleep(100)"
    density
}

# ---------------------------------------------------------------- 4. ctr run ----------------
# A private containerd (config, root, state, socket under WORK); images from the integration
# crate's make-images example.
ctr_bench() {
    CTR_NOTE=
    if [ -n "${SKIP_CTR:-}" ]; then CTR_NOTE="skipped (SKIP_CTR set)"; return; fi
    local d=$WORK/containerd sock i
    mkdir -p "$d"
    if ! cargo run -q --release --manifest-path "$HERE/integration/Cargo.toml" --example make-images -- "$d/img" >/dev/null 2>"$WORK/mk.err"; then
        CTR_NOTE="skipped: could not build the images ($(tail -1 "$WORK/mk.err"))"; return
    fi
    sock=$d/containerd.sock
    cat >"$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  disable_cri = true
EOF
    containerd --config "$d/config.toml" >"$d/log" 2>&1 &
    CTRD_PID=$!
    for ((i = 0; i < 100; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
    local ctr=(ctr --address "$sock" -n bench)
    "${ctr[@]}" images import --all-platforms "$d/img/busybox.tar" >/dev/null 2>&1 &&
        "${ctr[@]}" images import --all-platforms "$d/img/wasm.tar" >/dev/null 2>&1 ||
        { CTR_NOTE="skipped: ctr images import failed"; return; }
    local bb wasm
    bb=$("${ctr[@]}" images ls -q | grep -i busybox | head -1)
    wasm=$("${ctr[@]}" images ls -q | grep -i wasm | head -1)
    for ((i = 0; i < N; i++)); do
        timed "ctr run runw Linux" ctr "${ctr[@]}" run --rm --runc-binary "$RUNW" --runc-root "$WORK/root-runw-ctr" "$bb" "r$i" true || true
        timed "ctr run runc Linux" ctr "${ctr[@]}" run --rm --runc-binary "$RUNC" --runc-root "$WORK/root-runc-ctr" "$bb" "c$i" true || true
        timed "ctr run runw Wasm hello" ctr "${ctr[@]}" run --rm --runc-binary "$RUNW" --runc-root "$WORK/root-runw-ctr" "$wasm" "w$i" /hello.wasm || true
    done
}

# ---------------------------------------------------------------- report --------------------
# stats NAME: "min median p95" in ms of NAME's samples (nearest-rank p95).
stats() {
    sort -n "$SAMPLES/$1" | awk '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        p = int(0.95 * NR + 0.999); if (p < 1) p = 1
        printf "%.2f %.2f %.2f %d", a[1] / 1000, m / 1000, a[p] / 1000, NR }'
}
med() { local s; s=($(stats "$1")); echo "${s[1]}"; }
ratio() { [ -s "$SAMPLES/$1" ] && [ -s "$SAMPLES/$2" ] && awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN { printf "%.2f", a / b }' || echo "n/a"; }

# reference NAME: the runc measurement NAME is compared with.
reference() {
    case $1 in
    *create) echo "runc create" ;; *start) echo "runc start" ;; *wait-exit) echo "runc wait-exit" ;;
    *delete) echo "runc delete" ;; *"run (true)") echo "runc run (true)" ;;
    "ctr run"*Linux) echo "ctr run runc Linux" ;; "ctr run"*) echo "ctr run runc Linux" ;;
    *) echo "runc busybox echo" ;;
    esac
}

# check LABEL VALUE OP LIMIT: one target line, MET or MISSED.
check() {
    local verdict
    if [ "$2" = n/a ]; then verdict="not measured"
    elif awk -v v="$2" -v l="$4" "BEGIN { exit !(v $3 l) }"; then verdict="met"
    else verdict="**MISSED**"; fi
    echo "| $1 | $2 | $3 $4 | $verdict |"
}

report() {
    local name s order=()
    for name in create start wait-exit delete "run (true)"; do
        order+=("runw $name" "runc $name" "youki $name")
    done
    local engine
    for name in "WAT hello (cold)" "WAT hello (warm)" "C hello (cold)" "C hello (warm)" "fib(32) (warm)"; do
        for engine in wasmtime wasmedge; do order+=("runw $engine $name"); done
    done
    order+=("youki wasm C hello" "runw busybox echo" "runc busybox echo" "youki busybox echo"
        "ctr run runw Linux" "ctr run runc Linux" "ctr run runw Wasm hello")
    {
        echo "# runw benchmark $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo
        echo "$(nproc) cores, $(awk '/MemTotal/ {printf "%d MiB", $2/1024}' /proc/meminfo), load average at start $LOAD0;" \
            "cgroup $(stat -fc %T /sys/fs/cgroup | sed 's/tmpfs/v1/;s/cgroup2fs/v2/'); N=$N samples per row; C module $C_SIZE bytes."
        echo "runw: $("$RUNW" --version | paste -sd" " -); runc: $("$RUNC" --version | head -1)${YOUKI:+; youki: $("$YOUKI" --version | head -1)}"
        echo
        echo "| measurement | n | min ms | median ms | p95 ms | median / runc |"
        echo "|---|---:|---:|---:|---:|---:|"
        for name in "${order[@]}"; do
            [ -s "$SAMPLES/$name" ] || continue
            s=($(stats "$name"))
            echo "| $name | ${s[3]} | ${s[0]} | ${s[1]} | ${s[2]} | $(ratio "$name" "$(reference "$name")") |"
        done
        echo
        echo "Hangs (calls killed by timeout 10): runw $HANGS_runw, runc $HANGS_runc${YOUKI:+, youki $HANGS_youki}, ctr $HANGS_ctr."
        [ -n "$HAVE_WAT" ] || echo "No WAT module (wabt not installable): C module only."
        [ -z "${CTR_NOTE:-}" ] || echo "ctr run: $CTR_NOTE."
        echo
        if part 2 && [[ " ${ENGINES[*]} " == *" wasmedge "* ]]; then
            echo "## WasmEdge beside wasmtime (same run, medians)"
            echo
            echo "| measurement | wasmtime ms | WasmEdge ms | WasmEdge / wasmtime |"
            echo "|---|---:|---:|---:|"
            for name in "WAT hello (cold)" "WAT hello (warm)" "C hello (cold)" "C hello (warm)" "fib(32) (warm)"; do
                [ -s "$SAMPLES/runw wasmtime $name" ] && [ -s "$SAMPLES/runw wasmedge $name" ] || continue
                echo "| $name | $(med "runw wasmtime $name") | $(med "runw wasmedge $name") | $(ratio "runw wasmedge $name" "runw wasmtime $name") |"
            done
            echo
        fi
        if part 3; then
            echo "## Memory (init process of a running container)"
            echo
            printf '%s\n' "${MEM[@]}"
            echo
            echo "Density: $DENSITY_LINE."
            echo
        fi
        echo "## Targets"
        echo
        echo "| target | value | limit | verdict |"
        echo "|---|---:|---:|---|"
        check "Linux run total / runc run" "$(ratio "runw run (true)" "runc run (true)")" "<=" 0.7
        check "Wasm C warm hello / runw busybox echo" "$(ratio "runw wasmtime C hello (warm)" "runw busybox echo")" "<=" 1.2
        [ -n "$HAVE_WAT" ] && check "Wasm WAT warm hello / runw busybox echo" "$(ratio "runw wasmtime WAT hello (warm)" "runw busybox echo")" "<=" 1.2
        if [[ " ${ENGINES[*]} " == *" wasmedge "* ]]; then
            check "WasmEdge C warm hello / runw busybox echo" "$(ratio "runw wasmedge C hello (warm)" "runw busybox echo")" "<=" 1.2
            check "WasmEdge fib(32) AOT / wasmtime fib(32)" "$(ratio "runw wasmedge fib(32) (warm)" "runw wasmtime fib(32) (warm)")" "<=" 1.5
        else
            echo "| WasmEdge targets | n/a | | not measured (runw built without wasmedge) |"
        fi
        local w=
        part 3 && w=${MEMVAL["runw Wasm sleep(100)"]:-}
        check "sleeping Wasm init VmRSS MiB" "$([ -n "$w" ] && awk -v k="$w" 'BEGIN{printf "%.2f", k/1024}' || echo n/a)" "<" 10
        if [ -n "$YOUKI" ]; then
            check "Wasm C warm hello / youki wasmtime hello" "$(ratio "runw wasmtime C hello (warm)" "youki wasm C hello")" "<=" 0.5
        else
            echo "| Wasm warm hello / youki wasmtime | n/a | <= 0.5 | not measured (YOUKI not set) |"
        fi
        echo
        [ -s "$PLOT" ] && echo "Plot of the samples: $(basename "$PLOT")"
    } >"$REPORT"
}

# series_of NAME: "SERIES<TAB>MEASUREMENT" of a sample name: the runtime (with the engine for
# Wasm rows) and what was measured, e.g. "runw wasmedge C hello (warm)" is series
# "runw wasmedge", measurement "C hello (warm)"; "ctr run runc Linux" is "runc", "ctr run Linux".
series_of() {
    local rest
    case $1 in
    "ctr run "*) rest=${1#ctr run }; printf '%s\tctr run %s\n' "${rest%% *}" "${rest#* }" ;;
    *" wasmtime "* | *" wasmedge "*) rest=${1#* }
        printf '%s %s\t%s\n' "${1%% *}" "${rest%% *}" "${rest#* }" ;;
    *) printf '%s\t%s\n' "${1%% *}" "${1#* }" ;;
    esac
}

# plot: every sample as a point (log ms), grouped by measurement (one column each), one colour
# per runtime and engine, so that runw's and runc's samples of one measurement stand side by
# side.
plot() {
    command -v gnuplot >/dev/null || return 0
    local f name line series measurement labels="" plots="" i tab=$'\t'
    local -A column=() data=()
    local -a measurements=() all_series=()
    for f in "$SAMPLES"/*; do
        name=${f##*/}
        line=$(series_of "$name")
        series=${line%%"$tab"*} measurement=${line#*"$tab"}
        if [ -z "${column[$measurement]:-}" ]; then
            column[$measurement]=${#measurements[@]}
            measurements+=("$measurement")
        fi
        if [ -z "${data[$series]:-}" ]; then
            data[$series]=$WORK/plot-${#all_series[@]}.dat
            all_series+=("$series")
        fi
        awk -v x="${column[$measurement]}" '{print x, $1 / 1000}' "$f" >>"${data[$series]}"
    done
    for ((i = 0; i < ${#measurements[@]}; i++)); do
        labels+="${labels:+, }\"${measurements[$i]}\" $i"
    done
    # Each series is shifted a little within its column, so that they do not overlap.
    local n=${#all_series[@]}
    for ((i = 0; i < n; i++)); do
        plots+="${plots:+, }\"${data[${all_series[$i]}]}\" using (\$1 + ($i - ($n - 1) / 2.0) * 0.12 + (rand(0) - 0.5) * 0.08):2 with points pt 7 ps 0.6 title \"${all_series[$i]}\""
    done
    gnuplot <<GNUPLOT || echo "bench: gnuplot failed" >&2
set terminal pngcairo size 1400,700 noenhanced
set output "$PLOT"
set title "runw bench $STAMP: wall time per sample (N=$N), by measurement and runtime"
set ylabel "ms (log)"
set logscale y
set xtics ($labels) rotate by 45 right font ",9"
set xrange [-1:${#measurements[@]}]
set bmargin 12
set grid ytics
set key outside right top
plot $plots
GNUPLOT
}

# ---------------------------------------------------------------- main ----------------------
# part K: whether part K was asked for (PARTS).
part() { [[ " $PARTS " == *" $1 "* ]]; }

main() {
    setup
    LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
    make_bundles
    write_timer
    echo "bench: N=$N, work dir $WORK" >&2
    if part 1; then echo "bench: 1. Linux lifecycle" >&2; lifecycle; fi
    if part 2; then echo "bench: 2. Wasm hello" >&2; wasm_hello; fi
    if part 3; then echo "bench: 3. memory" >&2; memory; fi
    if part 4; then echo "bench: 4. ctr run" >&2; ctr_bench; fi
    plot
    report
    cat "$REPORT"
}

main
