#!/usr/bin/env bash
# Installs what runw needs on a fresh Debian 12 machine (run as root). Idempotent: when every
# package is already installed it returns in well under a second.
#
# Source it (". hack/setup.sh") or run it; either way it also makes sure cargo is on PATH.
set -euo pipefail

# Packages the project needs:
#   busybox-static   rootfs of the test / demo containers
#   libseccomp-dev pkg-config   libcontainer's seccomp support (libseccomp-sys)
#   libelf-dev zlib1g-dev make   libcgroups' cgroup v2 device filter (eBPF, libbpf-sys)
#   runc             reference runtime the integration tests compare against
#   gcc libc6-dev    static C programs built by the tests (CVE-2019-5736 attacker)
#   clang lld wasi-libc libclang-rt-14-dev-wasm32   building Wasm test modules
#   iproute2 containerd podman   integration with the real callers of the runc CLI
#   hyperfine file   benchmarks and binary checks
#   qemu-system-x86 xz-utils   the cgroup v2 lane (hack/test-cgroup2.sh: a cgroup v2-only VM)
#   python3-venv     componentize-py, which builds the test HTTP handlers (tests/wasm_http.rs),
#                    goes into a virtualenv under target/ (jco comes from npm, with the
#                    machine's Node.js)
#   containernetworking-plugins   the CRI pod network of the HTTP handler tests (integration/)
#   wrk              the HTTP load of the benchmark (hack/bench.sh)
RUNW_PACKAGES=(
    busybox-static libseccomp-dev pkg-config libelf-dev zlib1g-dev runc gcc libc6-dev make git
    ca-certificates clang lld wasi-libc libclang-rt-14-dev-wasm32 iproute2 containerd podman
    hyperfine file procps python3 qemu-system-x86 xz-utils python3-venv
    containernetworking-plugins wrk
)

runw_missing_packages() {
    local pkg status
    for pkg in "${RUNW_PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
        if [[ "$status" != "install ok installed" ]]; then
            echo "$pkg"
        fi
    done
}

runw_setup() {
    local missing
    mapfile -t missing < <(runw_missing_packages)
    if ((${#missing[@]})); then
        if [[ $(id -u) -ne 0 ]]; then
            echo "setup.sh: missing packages (${missing[*]}); run as root" >&2
            return 1
        fi
        echo "setup.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi

    # cargo comes from rustup in ~/.cargo/bin; a non-login shell (CI) may not have it on PATH.
    if ! command -v cargo >/dev/null 2>&1; then
        if [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
            export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
        else
            echo "setup.sh: cargo not found (expected the rustup toolchain in ~/.cargo/bin)" >&2
            return 1
        fi
    fi
    local component
    for component in fmt clippy; do
        if ! cargo "$component" --version >/dev/null 2>&1; then
            if command -v rustup >/dev/null 2>&1; then
                rustup component add "$([[ $component == fmt ]] && echo rustfmt || echo clippy)" ||
                    echo "setup.sh: warning: cargo $component unavailable" >&2
            fi
        fi
    done
}

runw_setup
