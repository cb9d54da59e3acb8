#!/usr/bin/env bash
# Benchmark (not a test): the Wasm parts of hack/bench.sh only: `runw run` of a WAT and a
# ~200 KB C hello world with a cold and a warm compiled-code cache beside a busybox `echo`
# container under runw and runc (part 2), and the memory of sleeping Linux and Wasm inits and
# of 50 Wasm containers at once (part 3). Same options as hack/bench.sh (N, YOUKI, NO_BUILD,
# DENSITY); see docs/benchmarks.md. Run as root: hack/bench-wasm.sh [N] (default 30).
set -euo pipefail
PARTS="2 3" exec "$(dirname "$0")/bench.sh" "${1:-${N:-30}}"
