#!/usr/bin/env bash
# Coverage-guided fuzzing of what runw parses from untrusted input (fuzz/, issue #13): builds
# the targets with cargo-afl (AFL++ instrumentation on stable Rust) and runs each for a
# bounded time, then prints per target the executions, execs/s, corpus size, crashes and
# hangs. Exits 1 if any target crashed or hung, naming the reproducers.
#
#   hack/fuzz.sh                       every target, 15 s each (CI)
#   hack/fuzz.sh --seconds 600         a longer campaign (docs/reliability.md, "Fuzzing")
#   hack/fuzz.sh --target config --target state --seconds 60
#
# Installs cargo-afl (crates.io) and builds its AFL++ runtime when missing. Findings and the
# corpora grown by a run are in fuzz/out/<target>/default/ (crashes/, hangs/, queue/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_AFL_VERSION=0.18.2
seconds=15
targets=()
while (($#)); do
    case "$1" in
        --seconds) seconds=$2; shift 2 ;;
        --target) targets+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "hack/fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if ((${#targets[@]} == 0)); then
    for f in fuzz/src/bin/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

# cargo on PATH (a non-login shell may not have it).
if ! command -v cargo >/dev/null 2>&1; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi

step() { echo "--- fuzz: $* ($(date -u +%H:%M:%S))"; }

if [[ "$(cargo afl --version 2>/dev/null || true)" != *"$CARGO_AFL_VERSION"* ]]; then
    step "cargo install cargo-afl $CARGO_AFL_VERSION"
    cargo install --locked --quiet cargo-afl --version "$CARGO_AFL_VERSION"
fi
# The AFL++ runtime for this rustc, built from the source cargo-afl ships (no download).
# "already built" is not an error.
if ! out=$(cargo afl config --build 2>&1) && [[ "$out" != *"already built"* ]]; then
    echo "$out" >&2
    exit 1
fi

step "cargo afl build --release (fuzz/)"
(cd fuzz && cargo afl build --release --locked --quiet)

# The AFL settings of a shared VM without a UI: no CPU frequency governor, cores shared with
# other jobs, the kernel's core_pattern piped to a crash handler.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_NO_AFFINITY=1 AFL_FAST_CAL=1 AFL_QUIET=1
out_root=$PWD/fuzz/out
mkdir -p "$out_root"
# The targets that read files make their scratch directories here.
export TMPDIR=$out_root/tmp
rm -rf "$TMPDIR"
mkdir -p "$TMPDIR"

failed=()
printf '%-12s %12s %9s %8s %8s %6s\n' target executions execs/s corpus crashes hangs > "$out_root/summary.txt"
for target in "${targets[@]}"; do
    if [[ ! -d fuzz/corpus/$target ]]; then
        echo "hack/fuzz.sh: no target $target (fuzz/src/bin/$target.rs, fuzz/corpus/$target/)" >&2
        exit 2
    fi
    step "$target for ${seconds}s"
    rm -rf "${out_root:?}/$target"
    # -t: a single input taking more than 2 s is a hang (the machine may be busy).
    if ! cargo afl fuzz -i "fuzz/corpus/$target" -o "$out_root/$target" -V "$seconds" -t 2000 \
        -- "fuzz/target/release/$target" > "$out_root/$target.log" 2>&1; then
        echo "hack/fuzz.sh: afl-fuzz failed on $target:" >&2
        tail -30 "$out_root/$target.log" >&2
        exit 1
    fi
    dir=$out_root/$target/default
    stat() { sed -n "s/^$1 *: *//p" "$dir/fuzzer_stats"; }
    crashes=$(find "$dir/crashes" -name 'id:*' 2>/dev/null | wc -l)
    hangs=$(find "$dir/hangs" -name 'id:*' 2>/dev/null | wc -l)
    printf '%-12s %12s %9s %8s %8s %6s\n' "$target" "$(stat execs_done)" "$(stat execs_per_sec)" \
        "$(stat corpus_count)" "$crashes" "$hangs" | tee -a "$out_root/summary.txt"
    if ((crashes + hangs)); then
        failed+=("$target")
        find "$dir/crashes" "$dir/hangs" -name 'id:*' | sed 's/^/  reproducer: /'
    fi
done
rm -rf "$TMPDIR"

echo
cat "$out_root/summary.txt"
if ((${#failed[@]})); then
    echo "hack/fuzz.sh: crashes or hangs in: ${failed[*]} (run the target on a reproducer:" \
        "fuzz/target/release/<target> < <file>)" >&2
    exit 1
fi
