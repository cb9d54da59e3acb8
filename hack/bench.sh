#!/usr/bin/env bash
# Benchmark (NOT a test): runw side by side with runc (and youki when YOUKI=/path is set).
#
#   hack/bench.sh [N]          (or N=.. hack/bench.sh; default N=10 iterations per measurement)
#   YOUKI=/path/to/youki hack/bench.sh 20
#   SKIP_CTR=1 hack/bench.sh   skip part 4 (ctr run through the stock shim)
#   NO_BUILD=1 hack/bench.sh   use the existing target/release/runw (no cargo build)
#   RUNW=/path NO_BUILD=1 ...  another runw binary (e.g. a build before a change)
#   DENSITY=50                 number of Wasm containers in the density measurement
#   PARTS="2 3" hack/bench.sh  only some of the parts below (default: 1 2 3 4 5)
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
#   5. HTTP handler (wasi:http/proxy): one component served by runw (`runw run -d`, host
#      network, a free loopback port) and by bare `wasmtime serve` on the host, loaded by `wrk`
#      in turns: requests/s and p50/p99 latency at 1 and 50 connections, the time from the
#      start command to the first 200, and the idle server's VmRSS.
#        HTTP_HANDLER=python|js  the component (target/http-handlers/, hack/build-http-handlers.sh)
#        HTTP_ROUTE=/            the route loaded (app.py's and app.js's least work)
#        HTTP_SECONDS=10         each wrk measurement; HTTP_ROUNDS=3 fresh servers per runtime
#        HTTP_WASMTIME_CGROUP=0  wasmtime serve in the shell's cgroup (default: cgroups of its own)
#        WASMTIME=/path          wasmtime CLI (default target/wasmtime-cli/bin/wasmtime; if
#                                missing, `cargo install wasmtime-cli` of runw's wasmtime
#                                version there: 47 min on 2 busy cores, once)
# Output: bench-results/bench-<date>.md (printed too) and bench-results/bench-<date>.png (the
# samples grouped by measurement, one colour per runtime and engine); part 5 adds
# bench-results/bench-<date>-http.png (its latencies by round).
# Every call is guarded with `timeout 10`; timeouts are counted as hangs in the report.
# Run as root. Everything (containers, private roots, containerd, temp dirs) is cleaned up
# on exit, including Ctrl-C.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-${N:-10}}
DENSITY=${DENSITY:-50}
PARTS=${PARTS:-1 2 3 4 5}
RUNW=${RUNW:-$HERE/target/release/runw}
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
    [ -z "${WASMTIME_PID:-}" ] || kill -KILL "$WASMTIME_PID" 2>/dev/null
    local g i
    for g in ${HTTP_CGROUPS[@]+"${HTTP_CGROUPS[@]}"}; do
        for ((i = 0; i < 100; i++)); do rmdir "$g" 2>/dev/null && break; sleep 0.05; done
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
    [ -n "$HAVE_WAT" ] && mods[WAT]="wasm-wat"
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
        if [ -n "$YOUKI" ]; then
            timed "youki busybox echo" youki "$YOUKI" --root "$WORK/root-youki" run -b "$WORK/echo" "e$i" || true
        fi
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
    if ! "${ctr[@]}" images import --all-platforms "$d/img/busybox.tar" >/dev/null 2>&1 ||
        ! "${ctr[@]}" images import --all-platforms "$d/img/wasm.tar" >/dev/null 2>&1; then
        CTR_NOTE="skipped: ctr images import failed"; return
    fi
    local bb wasm
    bb=$("${ctr[@]}" images ls -q | grep -i busybox | head -1)
    wasm=$("${ctr[@]}" images ls -q | grep -i wasm | head -1)
    for ((i = 0; i < N; i++)); do
        timed "ctr run runw Linux" ctr "${ctr[@]}" run --rm --runc-binary "$RUNW" --runc-root "$WORK/root-runw-ctr" "$bb" "r$i" true || true
        timed "ctr run runc Linux" ctr "${ctr[@]}" run --rm --runc-binary "$RUNC" --runc-root "$WORK/root-runc-ctr" "$bb" "c$i" true || true
        timed "ctr run runw Wasm hello" ctr "${ctr[@]}" run --rm --runc-binary "$RUNW" --runc-root "$WORK/root-runw-ctr" "$wasm" "w$i" /hello.wasm || true
    done
}

# ---------------------------------------------------------------- 5. HTTP handler ----------
# The same wasi:http/proxy component served by runw (a container of its own, `run -d`, in the
# host's network namespace) and by bare `wasmtime serve` on the host, the two taking turns.
HTTP_HANDLER=${HTTP_HANDLER:-python}
HTTP_ROUTE=${HTTP_ROUTE:-/}
HTTP_SECONDS=${HTTP_SECONDS:-10}
HTTP_ROUNDS=${HTTP_ROUNDS:-3}
WASMTIME=${WASMTIME:-$HERE/target/wasmtime-cli/bin/wasmtime}
HTTP_SAMPLES=$WORK/http-samples
HTTP_PLOT=$OUTDIR/bench-$STAMP-http.png
SERVE_PID=

# The wasmtime version runw links (Cargo.lock).
wasmtime_version() {
    awk '/^name = "wasmtime"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$HERE/Cargo.lock"
}

# http_setup: the component, the wasmtime CLI of runw's wasmtime version, wrk, the timer.
# Sets HTTP_NOTE (and returns 1) when something is missing.
http_setup() {
    HTTP_NOTE=""
    WASM_HTTP=$HERE/target/http-handlers/$HTTP_HANDLER.wasm
    local version
    version=$(wasmtime_version)
    if [ ! -s "$WASM_HTTP" ] && ! "$HERE/hack/build-http-handlers.sh" >"$WORK/handlers.log" 2>&1; then
        HTTP_NOTE="skipped: hack/build-http-handlers.sh failed ($(tail -1 "$WORK/handlers.log"))"; return 1
    fi
    [ -s "$WASM_HTTP" ] || { HTTP_NOTE="skipped: no handler $WASM_HTTP (HTTP_HANDLER=python|js)"; return 1; }
    if [ ! -x "$WASMTIME" ] && [ "$WASMTIME" = "$HERE/target/wasmtime-cli/bin/wasmtime" ]; then
        # Built from the crate registry, as runw's wasmtime is: 47 minutes on this project's
        # 2-core VM with other builds running, once; the binary stays under target/.
        echo "bench: installing wasmtime-cli $version into target/wasmtime-cli (cargo install, niced; once, ~45 min on 2 cores)" >&2
        CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} nice -n 19 cargo install -q wasmtime-cli --version "$version" \
            --locked --root "$HERE/target/wasmtime-cli" >"$WORK/wasmtime-install.log" 2>&1 || true
    fi
    [ -x "$WASMTIME" ] || { HTTP_NOTE="skipped: no wasmtime CLI at $WASMTIME (cargo install wasmtime-cli --version $version failed?)"; return 1; }
    WASMTIME_VERSION=$("$WASMTIME" --version)
    [[ "$WASMTIME_VERSION" == "wasmtime $version" || "$WASMTIME_VERSION" == "wasmtime $version "* ]] ||
        HTTP_NOTE="$WASMTIME is $WASMTIME_VERSION, runw links wasmtime $version"
    if ! command -v wrk >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 ||
            { HTTP_NOTE="skipped: wrk is not installed"; return 1; }
    fi
    mkdir -p "$HTTP_SAMPLES"
    http_cgroups
    # wasmtime's compiled-code cache (on by default) in the work directory, not in ~/.cache.
    printf '[cache]\ndirectory = "%s"\n' "$WORK/wasmtime-cache" >"$WORK/wasmtime-cache.toml"
    bundle "$WORK/http" '["/app/handler.wasm"]'
    cp "$WASM_HTTP" "$WORK/http/rootfs/app/handler.wasm"
    # first200.py: see its docstring.
    cat >"$WORK/first200.py" <<'PY'
"""first200.py OUT PORT PATH detach|serve LIMIT CMD...: starts CMD (stdout/stderr to OUT) and
polls GET PATH on 127.0.0.1:PORT (a new connection each try, 0.5 ms apart) until a 200; prints
"STATUS MICROSECONDS PID": 0, the time from starting CMD to the first 200, and CMD's pid.
`detach`: CMD returns once the server runs (runw run -d); a non-zero exit is its STATUS.
`serve`: CMD is the server and keeps running. After LIMIT s without a 200: STATUS 124."""
import socket, subprocess, sys, time
out, port, path, mode, limit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
cmd = sys.argv[6:]
request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()

def status():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(request)
            line = s.makefile("rb").readline().split()
            return int(line[1]) if len(line) > 1 else 0
    except OSError:
        return 0

with open(out, "wb") as sink:
    t0 = time.perf_counter_ns()
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    while status() != 200:
        code = child.poll()
        if code not in (None, 0) or (code == 0 and mode == "serve"):
            print(code if code >= 0 else 128 - code, 0, child.pid)
            sys.exit()
        if time.perf_counter_ns() - t0 > limit * 1e9:
            print(124, 0, child.pid)
            sys.exit()
        time.sleep(0.0005)
    elapsed = (time.perf_counter_ns() - t0) // 1000
if mode == "detach" and child.wait() != 0:
    print(child.returncode, 0, child.pid)
else:
    print(0, elapsed, child.pid)
PY
}

# http_cgroups: unless HTTP_WASMTIME_CGROUP=0, a cpu and a memory cgroup for wasmtime serve
# (one cgroup on v2), made as runw makes its container's: the container's cgroup is one
# entity of the CPU scheduler however many threads it runs, and its page faults are charged
# to its memory cgroup, while on the host, in the root cgroup, each wasmtime thread would
# compete with every other task on its own and nothing would be charged. Removed by cleanup.
HTTP_CGROUPS=()
http_cgroups() {
    [ "${HTTP_WASMTIME_CGROUP:-1}" != 0 ] || return 0
    local dirs=() d
    if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
        dirs=("/sys/fs/cgroup/runw-bench-wasmtime-$$")
    else
        dirs=("/sys/fs/cgroup/cpu/runw-bench-wasmtime-$$" "/sys/fs/cgroup/memory/runw-bench-wasmtime-$$")
    fi
    for d in "${dirs[@]}"; do
        mkdir -p "$d" 2>/dev/null && HTTP_CGROUPS+=("$d")
    done
}

# http_port: a free port on 127.0.0.1.
http_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http_config PORT: the runw bundle listens on 127.0.0.1:PORT, in the host's network namespace.
http_config() {
    python3 - "$WORK/http/config.json" "$1" <<'PY'
import json, sys
path, port = sys.argv[1], sys.argv[2]
c = json.load(open(path))
env = [e for e in c["process"]["env"] if not e.startswith("WASMTIME_HTTP_PROXY_SOCKET_ADDR=")]
c["process"]["env"] = env + [f"WASMTIME_HTTP_PROXY_SOCKET_ADDR=127.0.0.1:{port}"]
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(path, "w"))
PY
}

# http_start RT PORT ID [LIMIT]: starts RT's server on PORT (runw: container ID) and waits
# for its first 200 (at most LIMIT s, default 10); sets SERVE_PID (the process whose memory is
# measured) and FIRST_US. Output of the server (the handler prints a line per request) goes
# to a file, for both alike.
http_start() {
    local rt=$1 port=$2 id=$3 limit=${4:-10} result status cmd mode
    if [ "$rt" = runw ]; then
        http_config "$port"
        mode=detach
        cmd=("$RUNW" --root "$WORK/root-runw-http" --wasm-cache "$WORK/cache-http" run -d -b "$WORK/http" "$id")
    else
        mode=serve
        cmd=("$WASMTIME" serve -S cli -C "cache-config=$WORK/wasmtime-cache.toml" --addr "127.0.0.1:$port" "$WASM_HTTP")
        # In cgroups of its own, as runw's container is (see http_cgroups).
        if ((${#HTTP_CGROUPS[@]})); then
            # shellcheck disable=SC2016 # expanded by that sh
            cmd=(sh -c 'for g in $CGROUPS; do echo $$ >"$g/cgroup.procs"; done; exec "$@"' sh "${cmd[@]}")
        fi
    fi
    result=$(CGROUPS="${HTTP_CGROUPS[*]}" python3 "$WORK/first200.py" "$WORK/http-$rt.out" "$port" "$HTTP_ROUTE" "$mode" "$limit" "${cmd[@]}")
    read -r status FIRST_US SERVE_PID <<<"$result"
    if [ "$rt" = wasmtime ]; then
        WASMTIME_PID=$SERVE_PID
    else
        SERVE_PID=$(timeout 10 "$RUNW" --root "$WORK/root-runw-http" state "$id" 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null) || SERVE_PID=
    fi
    case $status in
    0) return 0 ;;
    124) hang "$rt"; echo "bench: [$rt] no 200 from the HTTP server within $limit s" >&2 ;;
    *) echo "bench: [$rt] HTTP server: exit $status: ${cmd[*]}" >&2 ;;
    esac
    tail -3 "$WORK/http-$rt.out" >&2
    http_stop "$rt" "$id"
    return 1
}

# http_stop RT ID: SIGKILL, for both (the runw container with delete -f).
http_stop() {
    if [ "$1" = runw ]; then
        guard runw "$RUNW" --root "$WORK/root-runw-http" delete -f "$2" || true
        SERVE_PID=
    elif [ -n "$SERVE_PID" ]; then
        kill -KILL "$SERVE_PID" 2>/dev/null || true
        # Not our child (first200.py's): wait until it is gone.
        local i
        for ((i = 0; i < 1000; i++)); do
            grep -qs '^State:\s*[^Z]' "/proc/$SERVE_PID/status" || break
            sleep 0.01
        done
        SERVE_PID=""
        WASMTIME_PID=""
    fi
}

# http_sample NAME VALUE: one value (requests/s, ms, or KiB) of HTTP measurement NAME.
http_sample() { echo "$2" >>"$HTTP_SAMPLES/$1"; }

# http_load RT CONNECTIONS: one wrk measurement (1 thread, HTTP_SECONDS) into RT's samples:
# requests/s, p50 and p99 in ms, and the requests that were not a 2xx/3xx or failed.
http_load() {
    local rt=$1 c=$2 port=$3 out
    out=$(timeout $((HTTP_SECONDS + 20)) wrk -t1 -c"$c" -d"${HTTP_SECONDS}s" --latency "http://127.0.0.1:$port$HTTP_ROUTE" 2>&1) ||
        { echo "bench: [$rt] wrk failed: $(tail -1 <<<"$out")" >&2; return 0; }
    # wrk prints latencies as 812.00us, 2.69ms or 1.02s.
    local -A v
    eval "$(awk '
        function ms(x) { if (x ~ /us$/) return x / 1000; if (x ~ /ms$/) return x + 0; if (x ~ /s$/) return x * 1000; return x + 0 }
        $1 == "50%" { printf "v[p50]=%.3f\n", ms($2) }
        $1 == "99%" { printf "v[p99]=%.3f\n", ms($2) }
        $1 == "Requests/sec:" { printf "v[rps]=%.1f\n", $2 }
        $1 == "Non-2xx" { printf "v[bad]=%d\n", $5 }
        $1 == "Socket" { gsub(/,/, ""); printf "v[err]=%d\n", $4 + $6 + $8 + $10 }' <<<"$out")"
    [ -n "${v[rps]:-}" ] || { echo "bench: [$rt] no wrk result: $(tail -1 <<<"$out")" >&2; return 0; }
    http_sample "$rt rps ($c conn)" "${v[rps]}"
    http_sample "$rt http p50 ($c conn)" "${v[p50]}"
    http_sample "$rt http p99 ($c conn)" "${v[p99]}"
    HTTP_FAILED[$rt]=$((${HTTP_FAILED[$rt]:-0} + ${v[bad]:-0} + ${v[err]:-0}))
}

# http_round RT R: a fresh server: its idle VmRSS, a 2 s warm-up, wrk at 1 and 50
# connections, its VmRSS idle again after the load; then stopped.
http_round() {
    local rt=$1 r=$2 port id=http$2 m
    port=$(http_port)
    http_start "$rt" "$port" "$id" || return 0
    sleep 0.5
    m=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status" 2>/dev/null) && http_sample "$rt idle VmRSS" "$m"
    timeout 30 wrk -t1 -c50 -d2s "http://127.0.0.1:$port$HTTP_ROUTE" >/dev/null 2>&1 || true
    http_load "$rt" 1 "$port"
    http_load "$rt" 50 "$port"
    sleep 0.5
    m=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVE_PID/status" 2>/dev/null) && http_sample "$rt loaded VmRSS" "$m"
    http_stop "$rt" "$id"
}

http_bench() {
    local i r rt
    declare -gA HTTP_FAILED=()
    http_setup || { echo "bench: 5. $HTTP_NOTE" >&2; return 0; }
    local t0=$SECONDS
    # Warm both compiled-code caches (runw's --wasm-cache; wasmtime's own cache), not sampled:
    # compiling the Python component takes 10-30 s.
    for rt in runw wasmtime; do
        http_start "$rt" "$(http_port)" warm 300 && http_stop "$rt" warm
    done
    # Start to first 200, N samples each; busybox echo under runw too when part 2 did not run.
    for ((i = 0; i < N; i++)); do
        for rt in runw wasmtime; do
            http_start "$rt" "$(http_port)" "first$i" || continue
            sample "$rt http first response" "$FIRST_US"
            http_stop "$rt" "first$i"
        done
        part 2 || timed "runw busybox echo" runw "$RUNW" --root "$WORK/root-runw" run -b "$WORK/echo" "he$i" || true
    done
    for ((r = 0; r < HTTP_ROUNDS; r++)); do
        for rt in runw wasmtime; do http_round "$rt" "$r"; done
    done
    HTTP_TIME=$((SECONDS - t0))
}

# hmed NAME: median of HTTP measurement NAME ("n/a" without samples); hall NAME: its samples.
hmed() {
    [ -s "$HTTP_SAMPLES/$1" ] || { echo n/a; return; }
    sort -n "$HTTP_SAMPLES/$1" | awk '{a[NR]=$1} END { printf "%.2f", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
hall() { [ -s "$HTTP_SAMPLES/$1" ] && paste -sd/ "$HTTP_SAMPLES/$1" | sed 's|/| / |g' || echo n/a; }
hratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "n/a") print k; else printf "%.1f", k / 1024 }'; }

http_report() {
    echo "## HTTP handler (wasi:http/proxy): runw against bare \`wasmtime serve\`"
    echo
    if [ -z "${HTTP_TIME:-}" ]; then echo "$HTTP_NOTE."; echo; return; fi
    local where="in the shell's cgroup (HTTP_WASMTIME_CGROUP=0)"
    ((${#HTTP_CGROUPS[@]} == 0)) || where="in cgroups of its own (${HTTP_CGROUPS[*]##*/sys/fs/cgroup/}), as a container is"
    echo "Component: \`$HTTP_HANDLER.wasm\` ($(stat -c %s "$WASM_HTTP") bytes, hack/build-http-handlers.sh)," \
        "route \`$HTTP_ROUTE\` (app.py's and app.js's least work: reads the empty body, prints one line," \
        "answers a 27-byte text), a fresh instance per request in both. runw: \`runw run -d\` of a" \
        "bundle without a network namespace (listening on 127.0.0.1 of the host), no CPU or memory" \
        "limit; \`$WASMTIME_VERSION serve -S cli\` on the host with its defaults (multi-threaded" \
        "runtime, pooling allocator), $where. Load: \`wrk -t1 --latency\`, ${HTTP_SECONDS} s per row after a 2 s" \
        "warm-up, $HTTP_ROUNDS fresh servers per runtime taking turns; the median of the rounds" \
        "(each round's value in brackets). Part 5 took ${HTTP_TIME} s."
    [ -z "$HTTP_NOTE" ] || echo "Note: $HTTP_NOTE."
    echo
    echo "| measurement | runw | wasmtime serve | runw / wasmtime |"
    echo "|---|---:|---:|---:|"
    local c name a b
    for c in 1 50; do
        a=$(hmed "runw rps ($c conn)") b=$(hmed "wasmtime rps ($c conn)")
        echo "| requests/s, $c connection$([ "$c" = 1 ] || echo s) | $a [$(hall "runw rps ($c conn)")] | $b [$(hall "wasmtime rps ($c conn)")] | $(hratio "$a" "$b") |"
        for name in p50 p99; do
            a=$(hmed "runw http $name ($c conn)") b=$(hmed "wasmtime http $name ($c conn)")
            echo "| $name latency ms, $c connection$([ "$c" = 1 ] || echo s) | $a [$(hall "runw http $name ($c conn)")] | $b [$(hall "wasmtime http $name ($c conn)")] | $(hratio "$a" "$b") |"
        done
    done
    a=$(med_or_na "runw http first response") b=$(med_or_na "wasmtime http first response")
    echo "| start to first 200 ms (median of $N) | $a | $b | $(hratio "$a" "$b") |"
    for name in idle loaded; do
        a=$(hmed "runw $name VmRSS") b=$(hmed "wasmtime $name VmRSS")
        echo "| VmRSS MiB of the $([ $name = idle ] && echo "idle server, fresh" || echo "idle server after the load") | $(mib "$a") | $(mib "$b") | $(hratio "$a" "$b") |"
    done
    echo
    echo "Failed requests (non-2xx/3xx, socket errors): runw ${HTTP_FAILED[runw]:-0}, wasmtime serve ${HTTP_FAILED[wasmtime]:-0}." \
        "runw's VmRSS is its container's init; start to first 200 is \`runw run -d\` (create and start included," \
        "warm cache) or the \`wasmtime serve\` process (warm cache) until a 200."
    echo
    [ -s "$HTTP_PLOT" ] && echo "Plot of the latencies by round: $(basename "$HTTP_PLOT")" && echo
}
med_or_na() { [ -s "$SAMPLES/$1" ] && med "$1" || echo n/a; }

# http_targets: the issue's targets, rows of the report's Targets table.
http_targets() {
    local c
    for c in 1 50; do
        check "HTTP requests/s, $c conn: runw / wasmtime serve" "$(hratio "$(hmed "runw rps ($c conn)")" "$(hmed "wasmtime rps ($c conn)")")" ">=" 0.9
        check "HTTP p99 latency, $c conn: runw / wasmtime serve" "$(hratio "$(hmed "runw http p99 ($c conn)")" "$(hmed "wasmtime http p99 ($c conn)")")" "<=" 1.2
    done
    check "HTTP run -d to first 200 / runw busybox echo run" "$(ratio "runw http first response" "runw busybox echo")" "<=" 1.5
    echo "| idle HTTP server init VmRSS MiB (wasmtime serve: $(mib "$(hmed "wasmtime idle VmRSS")")) | $(mib "$(hmed "runw idle VmRSS")") | | reported |"
}

# ---------------------------------------------------------------- report --------------------
# stats NAME: "min median p95" in ms of NAME's samples (nearest-rank p95).
stats() {
    sort -n "$SAMPLES/$1" | awk '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        p = int(0.95 * NR + 0.999); if (p < 1) p = 1
        printf "%.2f %.2f %.2f %d", a[1] / 1000, m / 1000, a[p] / 1000, NR }'
}
med() { local s; read -ra s <<<"$(stats "$1")"; echo "${s[1]}"; }
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
        "ctr run runw Linux" "ctr run runc Linux" "ctr run runw Wasm hello"
        "runw http first response" "wasmtime http first response")
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
            read -ra s <<<"$(stats "$name")"
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
                if [ ! -s "$SAMPLES/runw wasmtime $name" ] || [ ! -s "$SAMPLES/runw wasmedge $name" ]; then continue; fi
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
        if part 5; then http_report; fi
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
        if part 5; then http_targets; fi
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

# plot DIR PNG TITLE [PER_MS]: every sample of DIR as a point (log ms; samples are in
# microseconds unless PER_MS says otherwise), grouped by measurement (one column each), one
# colour per runtime and engine, so that runw's and runc's samples of one measurement stand
# side by side.
plot() {
    command -v gnuplot >/dev/null || return 0
    local dir=$1 png=$2 title=$3 per_ms=${4:-1000}
    local f name line series measurement labels="" plots="" i tab=$'\t'
    local -A column=() data=()
    local -a measurements=() all_series=()
    for f in "$dir"/*; do
        name=${f##*/}
        line=$(series_of "$name")
        series=${line%%"$tab"*} measurement=${line#*"$tab"}
        if [ -z "${column[$measurement]:-}" ]; then
            column[$measurement]=${#measurements[@]}
            measurements+=("$measurement")
        fi
        if [ -z "${data[$series]:-}" ]; then
            data[$series]=$WORK/plot-${png##*/}-${#all_series[@]}.dat
            all_series+=("$series")
        fi
        awk -v x="${column[$measurement]}" -v d="$per_ms" '{print x, $1 / d}' "$f" >>"${data[$series]}"
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
set output "$png"
set title "$title"
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
    if part 5; then echo "bench: 5. HTTP handler" >&2; http_bench; fi
    plot "$SAMPLES" "$PLOT" "runw bench $STAMP: wall time per sample (N=$N), by measurement and runtime"
    if part 5 && [ -d "$HTTP_SAMPLES" ]; then
        mkdir -p "$WORK/http-latency"
        cp "$HTTP_SAMPLES"/*" http p"* "$WORK/http-latency/" 2>/dev/null &&
            plot "$WORK/http-latency" "$HTTP_PLOT" "runw bench $STAMP: HTTP latency of each round (wrk, ${HTTP_SECONDS} s), runw and wasmtime serve" 1
    fi
    report
    cat "$REPORT"
}

main
