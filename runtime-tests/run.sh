#!/bin/sh
# Build the conformance suite (runner + static checker) and run it.
#   runtime-tests/run.sh [--runtime PATH] [--filter SUBSTR]... [--timeout SECS] [--list]
# Default runtime: /work/main/target/release/runw. Exit status 1 if a case failed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
cargo build --release --quiet -p runtime-tests --bin runtime-tests
# The checker runs in a busybox rootfs without libc: link it statically.
cargo rustc --release --quiet -p runtime-tests --bin runtimetest -- -C target-feature=+crt-static
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "$target_dir/release/runtime-tests" "$@"
