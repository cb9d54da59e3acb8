#!/bin/sh
# Build the OCI conformance suite (runner + static in-container checker) and
# run it; arguments go to the runner:
#   runtime-tests/run.sh [--runtime PATH] [--filter SUBSTR]... [--timeout SECS] [--list]
# Default runtime: `runw` next to the runner (the workspace's target/release).
# Exit status 1 if a case failed.
set -eu
manifest="$(cd "$(dirname "$0")" && pwd)/Cargo.toml"
cargo build --release --quiet --manifest-path "$manifest" --bin runtime-tests
# The checker runs in a busybox rootfs without libc: link it statically
# (flags for the final crate only; the dependencies are not rebuilt).
cargo rustc --release --quiet --manifest-path "$manifest" --bin runtimetest -- -C target-feature=+crt-static
target_dir=$(cargo metadata --manifest-path "$manifest" --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "$target_dir/release/runtime-tests" "$@"
