#!/usr/bin/env bash
# The project's test command (what CI runs): setup, build, format and lint checks, all
# tests (unit + integration, as root with real containers), then the conformance suite, and
# finally the integration tests and the conformance suite again on cgroup v2 (in a VM).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The tests run real containers (namespaces, cgroups, mounts): as non-root most of them could
# only skip, and a green run would mean nothing.
if [[ $(id -u) != 0 ]]; then
    echo "hack/test.sh: error: the tests need root (they run real containers); run it as root, as CI does" >&2
    exit 1
fi

# Tests that cannot run here record why in this file (tests/common: skip!); the summary at
# the end, pass or fail, prints them.
export RUNW_TEST_SKIPS=$PWD/target/test-skips.txt
mkdir -p target
: > "$RUNW_TEST_SKIPS"
report_skips() {
    local n
    n=$(wc -l < "$RUNW_TEST_SKIPS")
    echo
    echo "=== skipped tests (tests/*.rs, this host): $n"
    sed 's/^/  /' "$RUNW_TEST_SKIPS"
}
trap report_skips EXIT

. hack/setup.sh

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

# WasmEdge, runw's second engine (cargo feature `wasmedge`): built from its release source
# (../shared/vendor, or --source) with its LLVM AOT compiler and installed into /usr/local
# (about 7 minutes on 2 cores; nothing when already installed). runw built with it runs the
# unit tests and the Wasm tests on both engines (one list, parameterised by RUNW_WASM_ENGINE:
# tests/wasm_common::engine; only components differ, by design). Everything after runs the
# default build (wasmtime only): a WasmEdge-linked runw loads LLVM in every invocation
# (docs/wasm.md, "The price of linking WasmEdge"), which doubles the cgroup v2 lane's time
# under emulation.
step "WasmEdge $(sed -n 's/^WASMEDGE_VERSION=//p' hack/install-wasmedge.sh) with AOT (hack/install-wasmedge.sh)"
hack/install-wasmedge.sh
WASMEDGE=(--features runw/wasmedge)

step "runw with WasmEdge: build, clippy, unit tests (all of them: this build has both engines), Wasm tests on wasmtime and on WasmEdge"
cargo build --release "${WASMEDGE[@]}"
cargo clippy --release --workspace --all-targets "${WASMEDGE[@]}" -- -D warnings
cargo test --release --no-fail-fast "${WASMEDGE[@]}" --lib --test wasm
RUNW_WASM_ENGINE=wasmedge cargo test --release --no-fail-fast "${WASMEDGE[@]}" --test wasm

step "cargo build --release"
cargo build --release

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --release --workspace --all-targets -- -D warnings

# runw's unit tests ran in the WasmEdge step, whose build has both engines (every unit test
# of this build and the WasmEdge ones): here runw's integration tests (tests/*.rs) and the
# other members' tests, without compiling the unit tests a second time.
step "cargo test --release --no-fail-fast"
cargo test --release --no-fail-fast -p runw --test '*'
cargo test --release --no-fail-fast --workspace --exclude runw

# Stress and fault suite (docs/reliability.md): lifecycles in a row and at once, SIGKILL of
# runw mid-command, fault cases, PID reuse, ctr run through the stock shim; any failure or
# leftover of runw fails (about a minute here). Not in the cgroup v2 lane.
step "stress and fault suite (hack/stress.sh --scale ci)"
hack/stress.sh --scale ci --runtime target/release/runw --report target/stress-ci.md

# fuzz/ is its own cargo workspace too (cargo-afl instrumentation). Every target runs for a
# bounded time (docs/reliability.md, "Fuzzing", for a longer run); a crash or hang fails.
step "fuzz: fmt"
cargo fmt --manifest-path fuzz/Cargo.toml --check
step "fuzz targets, 15 s each (hack/fuzz.sh)"
hack/fuzz.sh --seconds 15

# runtime-tests cases that skip on this machine (cgroup v1 hybrid, see "Results on this
# machine" in docs/conformance.md). runw must pass every other case; any other skip, a skip
# that no longer happens, or an incomplete run fails (hack/runtime-tests-verdict.sh). The
# cgroup v2 lane has its own lists (hack/test-cgroup2.sh).
RUNW_EXPECTED_SKIPS_V1=(
    # No SELinux, no AppArmor on this host.
    linux_mount_label
    linux_process_apparmor_profile
    # No huge pages reserved, and hugetlb is only on the hybrid v2 hierarchy (not v1).
    linux_cgroups_hugetlb
    linux_cgroups_relative_hugetlb
    # The kernel accepts memory.kmem.limit_in_bytes writes but ignores them.
    linux_cgroups_memory_kernel
    # net_cls/net_prio are not mounted.
    linux_cgroups_network
    linux_cgroups_relative_network
)
# The blkio weight needs a weight-based I/O scheduler (CFQ, or BFQ built in or loaded); some
# kernels of these VMs have neither (schedulers: none, mq-deadline, kyber), and then
# linux_cgroups_blkio_weight skips. Decided from the kernel, here, so that the skip stays
# unexpected wherever a weight file exists.
blkio_weight_file_exists() {
    local probe=/sys/fs/cgroup/blkio/runw-weight-probe.$$ found=1
    mkdir "$probe" 2>/dev/null || return 0
    [[ -e $probe/blkio.weight || -e $probe/blkio.bfq.weight ]] || found=0
    rmdir "$probe"
    ((found))
}
if ! blkio_weight_file_exists; then
    RUNW_EXPECTED_SKIPS_V1+=(linux_cgroups_blkio_weight)
fi
step "conformance suite (runtime-tests) against runw"
. hack/runtime-tests-verdict.sh
mkdir -p target
rc=0
runtime-tests/run.sh --runtime target/release/runw | tee target/runtime-tests-runw.tap ||
    rc=${PIPESTATUS[0]}
runtime_tests_verdict runw target/runtime-tests-runw.tap "$rc" "" "${RUNW_EXPECTED_SKIPS_V1[*]}"

# integration/ is its own cargo workspace (its dependencies stay out of runw's build): real
# containerd + containerd-shim-runc-v2, podman and the CRI driving target/release/runw.
step "integration: fmt and clippy"
cargo fmt --manifest-path integration/Cargo.toml --check
cargo clippy --release --manifest-path integration/Cargo.toml --all-targets -- -D warnings

step "integration tests (containerd, podman, CRI)"
cargo test --release --no-fail-fast --manifest-path integration/Cargo.toml

# The cgroup v2 lane: this machine is cgroup v1; a QEMU guest with a cgroup v2-only kernel
# (TCG, no /dev/kvm needed) runs the integration tests and the conformance suite built above
# (4 to 7 minutes here). It fails loudly if the VM cannot run.
step "cgroup v2 lane (hack/test-cgroup2.sh)"
hack/test-cgroup2.sh

step "all tests passed"
