#!/usr/bin/env bash
# The cgroup v2 lane: runw's cgroup tests on a kernel that has only cgroup v2.
#
# The CI machine is cgroup v1 (hybrid), so hack/cgroup2-vm.sh boots a throwaway QEMU guest
# (TCG when KVM is unusable) whose kernel has only the unified hierarchy, with this
# repository as its writable directory. Everything is built here first; the guest only runs
# the built binaries (no cargo in the guest):
#   1. the integration tests (tests/*.rs) that run containers, their binaries run directly
#      (not those in V1_ONLY_TESTS below);
#   2. the conformance suite (runtime-tests) against runw: every case must pass, except the
#      known deviations listed in RUNW_KNOWN_FAILURES, and skip only the cases listed in
#      RUNW_EXPECTED_SKIPS (both documented in docs/conformance.md; one of them passing or
#      running is an error too, so that the lists stay true); the run must be complete (the
#      TAP plan equals passed + failed + skipped) and its exit status agree with the report
#      (hack/runtime-tests-verdict.sh);
#   3. with RUNW_V2_COMPARE_RUNC=1, the same suite against Debian's runc, the reference, for
#      comparison (not fatal; off in CI: it adds minutes of emulated CPU and judges nothing).
# Logs go to target/cgroup2/. Run as root: hack/test-cgroup2.sh
# Environment: VM_HOME (kernel cache, default /tmp/vm), VM_TIMEOUT (seconds, default 1500),
# VM_MEM (MiB, default 2048), VM_CPUS (default 2), and hack/cgroup2-vm.sh's other settings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd -P)
OUT=$REPO/target/cgroup2

# runtime-tests cases that fail for runw on cgroup v2 for a documented reason (see "Results
# on cgroup v2" in docs/conformance.md).
# (None since issue #12: linux_uid_mappings, which sets no cgroupsPath, passes now that
# runw's default path is the absolute /<id>.)
RUNW_KNOWN_FAILURES=()

# runtime-tests cases that skip for runw in the guest, each for a reason of the cgroup v2 guest
# (see "Results on cgroup v2" in docs/conformance.md). Any other skip fails the lane.
RUNW_EXPECTED_SKIPS=(
    # Root in the guest has CAP_SYS_RESOURCE: raising a hard limit succeeds.
    process_rlimits_above_hard_fail
    # The guest's kernel has no SELinux.
    linux_mount_label
    # cgroup v1-only settings: v2 has no real-time CPU bandwidth, no kernel memory limits,
    # no net_cls/net_prio.
    linux_cgroups_cpus_realtime
    linux_cgroups_memory_kernel
    linux_cgroups_memory_kernel_tcp
    linux_cgroups_network
    linux_cgroups_relative_network
)

step() { echo; echo "=== $* ($(date -u +%H:%M:%S))"; }

# ------------------------------------------------------------------ in the guest
if [[ "${1:-}" == --in-vm ]]; then
    [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]] || {
        echo "test-cgroup2: /sys/fs/cgroup is not cgroup2 in the guest" >&2
        exit 1
    }
    echo "guest: kernel $(uname -r), $(nproc) CPUs, cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
    # A block device for the io.max / io.weight cases (the guest's disks are 9p) and huge
    # pages for the hugetlb cases.
    busybox modprobe null_blk nr_devices=1 || echo "guest: no null_blk: the io cases will skip"
    echo 8 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages || true
    # runw from the guest's tmpfs: exec'ing the 38 MB binary over 9p costs ~0.3 s per call.
    # The same file, mounted over its path (which the test binaries have compiled in).
    cp target/release/runw /tmp/runw
    mount --bind /tmp/runw target/release/runw
    status=0

    step "integration tests (tests/*.rs) on cgroup v2"
    # Tests that cannot run in the guest record why (tests/common: skip!).
    export RUNW_TEST_SKIPS=$OUT/test-skips.txt
    : >"$RUNW_TEST_SKIPS"
    while read -r name exe; do
        echo "--- $name"
        if ! "$exe" --test-threads=2 >"$OUT/it-$name.log" 2>&1; then
            status=1
            echo "FAILED: $name (log: target/cgroup2/it-$name.log)"
            grep -E "^test .*FAILED|^---- |panicked" "$OUT/it-$name.log" | head -40 || true
        fi
        grep -E "^test result" "$OUT/it-$name.log" || true
    done < "$OUT/test-binaries"
    echo "skipped tests (tests/*.rs) in the guest: $(wc -l <"$RUNW_TEST_SKIPS")"
    sed 's/^/  /' "$RUNW_TEST_SKIPS"

    . hack/runtime-tests-verdict.sh
    runtimes=(runw)
    [[ ${RUNW_V2_COMPARE_RUNC:-0} == 1 ]] && runtimes+=(runc)
    for rt in "${runtimes[@]}"; do
        bin=$REPO/target/release/runw
        [[ $rt == runc ]] && bin=/usr/sbin/runc
        step "conformance suite (runtime-tests) against $rt on cgroup v2"
        rc=0
        target/release/runtime-tests --runtime "$bin" >"$OUT/runtime-tests-$rt.tap" 2>&1 || rc=$?
        echo "$rc" >"$OUT/runtime-tests-$rt.status"
        grep -E "^(not ok|# )|SKIP" "$OUT/runtime-tests-$rt.tap" || true
        tail -n 1 "$OUT/runtime-tests-$rt.tap"
    done

    step "runw: runtime-tests against the known deviations and the expected skips"
    runtime_tests_verdict runw "$OUT/runtime-tests-runw.tap" \
        "$(cat "$OUT/runtime-tests-runw.status")" \
        "${RUNW_KNOWN_FAILURES[*]}" "${RUNW_EXPECTED_SKIPS[*]}" || status=1
    # runc is the reference, not under test: its results are reported, never judged.
    [[ -e $OUT/runtime-tests-runc.status ]] &&
        echo "runc: $(tail -n 1 "$OUT/runtime-tests-runc.tap") (exit status $(cat "$OUT/runtime-tests-runc.status"); for comparison only)"
    exit $status
fi

# ------------------------------------------------------------------ on the host
[[ $(id -u) -eq 0 ]] || { echo "test-cgroup2: run as root" >&2; exit 1; }
start=$(date +%s)
. hack/setup.sh
mkdir -p "$OUT"
rm -f "$OUT"/*.log "$OUT"/*.tap "$OUT"/*.status

# Test binaries the guest does not run: they start no container, or nothing in them depends
# on the cgroup version, and they cost minutes under emulation. hack/test.sh runs them on
# this machine.
V1_ONLY_TESTS=(
    install  # completion, man pages, hack/install.sh: no container
    parsers  # runw's parsers and command lines: no container
    # HTTP handlers: the toolchains that build them (componentize-py, jco) run on the host
    # only, and a server's limits are the engine's, not the cgroup's.
    wasm_http
)

# The integration test binaries: name and path of each tests/*.rs target, but V1_ONLY_TESTS.
test_binaries() {
    # Only tests/*.rs: nothing else runs in the guest (the unit tests would be one more build).
    cargo test --release --no-run --message-format=json "${FEATURES[@]}" -p runw --test '*' |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])' |
        awk -v skip=" ${V1_ONLY_TESTS[*]} " 'index(skip, " " $1 " ") == 0' 
}

# RUNW_FEATURES=wasmedge builds runw with WasmEdge here too (hack/test.sh does not: the default
# build, so that nothing is rebuilt).
FEATURES=()
[[ -z ${RUNW_FEATURES:-} ]] || FEATURES=(--features "runw/$RUNW_FEATURES")

step "build: runw, the integration tests, the conformance suite"
cargo build --release "${FEATURES[@]}"
test_binaries >"$OUT/test-binaries"
cargo build --release -p runtime-tests --bin runtime-tests
# The in-container checker must be static (see runtime-tests/run.sh).
cargo rustc --release -p runtime-tests --bin runtimetest -- -C target-feature=+crt-static
[[ -s $OUT/test-binaries ]] || { echo "test-cgroup2: no integration test binaries" >&2; exit 1; }

step "cgroup v2 VM: kernel and initramfs"
# hack/cgroup2-vm.sh downloads the kernel with apt-get download: it needs package lists.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
    apt-get update -qq
fi
hack/cgroup2-vm.sh --setup

step "cgroup v2 VM: running the lane"
# The guest runs on an emulated CPU (TCG), whose kernel can lock up through no fault of the
# tests: seen once, both vCPUs in "soft lockup" (one in clang, one in runw's set-up process)
# until VM_TIMEOUT, while the same tests pass run after run. So the guest panics on a soft
# lockup (after 2 x watchdog_thresh s), which ends the VM at once (status 125, the console
# shows why), and the lane runs once more; failing twice fails it.
run_lane() {
    VM_MEM=${VM_MEM:-2048} VM_CPUS=${VM_CPUS:-2} VM_TIMEOUT=${VM_TIMEOUT:-1500} \
        VM_APPEND="softlockup_panic=1 watchdog_thresh=60 ${VM_APPEND:-}" \
        hack/cgroup2-vm.sh -e RUNW_V2_COMPARE_RUNC="${RUNW_V2_COMPARE_RUNC:-0}" \
        "$REPO" hack/test-cgroup2.sh --in-vm
}
set +e
run_lane
rc=$?
if [[ $rc == 125 ]]; then
    echo "test-cgroup2: the guest ended before the lane reported a status (console above): running the lane once more"
    run_lane
    rc=$?
fi
set -e
echo
echo "cgroup v2 lane: exit status $rc, $(($(date +%s) - start)) s (logs: target/cgroup2/)"
case $rc in
    124) echo "test-cgroup2: the VM timed out (VM_TIMEOUT=${VM_TIMEOUT:-1500} s)" >&2 ;;
    125) echo "test-cgroup2: the VM failed before the lane reported a status" >&2 ;;
esac
exit $rc
