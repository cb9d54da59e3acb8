#!/usr/bin/env bash
# Stress and fault suite (issue #13): lifecycles in a row and at once, SIGKILL of the runtime
# mid-command, fault cases, PID reuse, `ctr run --rm` through the stock shim; failures and
# leftovers (state, cgroups, mounts, processes, descriptors) counted per scenario and runtime.
#
#   hack/stress.sh [--runtime PATH]... [--scale ci|full] [--only SCENARIO[,..]]
#                  [--report FILE] [--seed N]
#
# Several --runtime options run the same scenarios on each and print one side-by-side
# Markdown report (and FILE's lifecycle times as CSV beside it, FILE with .csv). The exit
# status is non-zero when the FIRST runtime had a failure or a leak; the others are reported
# only. Default runtime: target/release/runw. Scenarios: sequential, concurrent, sigkill,
# faults, pidreuse, ctr. Run as root. See docs/reliability.md ("Stress and faults").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) != 0 ]]; then
    echo "hack/stress.sh: run as root (the scenarios run real containers)" >&2
    exit 1
fi
has_runtime=
for arg in "$@"; do
    [[ $arg == --runtime || $arg == --runtime=* ]] && has_runtime=1
done
if [[ -z $has_runtime ]]; then
    set -- --runtime target/release/runw "$@"
fi
exec python3 hack/stress.py "$@"
