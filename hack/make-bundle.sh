#!/usr/bin/env bash
# Makes an OCI bundle with a busybox root filesystem.
#
#   hack/make-bundle.sh DIR [cmd args...]     (default command: sh)
#
# DIR/rootfs gets /bin/busybox (from busybox-static) and one symlink per applet, as
# `busybox --install -s` would make; DIR/config.json comes from `runw spec` with
# terminal false and the given command. Existing DIR/config.json is replaced; idempotent.
# RUNW=path/to/runw picks the binary (default: target/release/runw, else runw on PATH).
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 DIR [cmd args...]" >&2
    exit 2
fi
dir=$1
shift
[[ $# -gt 0 ]] || set -- sh

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runw=${RUNW:-$repo/target/release/runw}
if [[ ! -x $runw ]]; then
    runw=$(command -v runw || true)
fi
if [[ -z $runw ]]; then
    echo "make-bundle.sh: runw not built (cargo build --release) and not on PATH" >&2
    exit 1
fi
busybox=${BUSYBOX:-/bin/busybox}
if [[ ! -x $busybox ]]; then
    echo "make-bundle.sh: $busybox missing (apt-get install busybox-static)" >&2
    exit 1
fi

mkdir -p "$dir/rootfs"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,etc,root}
chmod 1777 "$dir/rootfs/tmp"
# Copy, never link: the container must not be able to reach the host's busybox.
cp -f "$busybox" "$dir/rootfs/bin/busybox.new"
mv -f "$dir/rootfs/bin/busybox.new" "$dir/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] && continue
    ln -sfn busybox "$dir/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' >"$dir/rootfs/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$dir/rootfs/etc/group"

rm -f "$dir/config.json"
"$runw" spec --bundle "$dir"
python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
with open(path) as f:
    config = json.load(f)
config["process"]["terminal"] = False
config["process"]["args"] = args
with open(path, "w") as f:
    json.dump(config, f, indent=2)
    f.write("\n")
PY
echo "bundle ready: $dir ($*)"
