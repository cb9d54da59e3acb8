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

step "cargo build --release"
cargo build --release

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --release --workspace --all-targets -- -D warnings

# The WasmEdge backend cannot be linked here (libwasmedge is not in the registries this
# machine reaches); DOCS_RS=1 makes wasmedge-sys use its pregenerated bindings: type-check it.
step "WasmEdge backend type-check"
DOCS_RS=1 cargo clippy --release --features wasmedge -- -D warnings

step "cargo test --release --no-fail-fast"
cargo test --release --workspace --no-fail-fast

step "conformance suite (runtime-tests) against runw"
runtime-tests/run.sh --runtime target/release/runw

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
