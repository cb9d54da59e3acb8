#!/bin/bash
# run-in-vm.sh - run a command inside a throwaway QEMU VM whose kernel has
# only the cgroup v2 (unified) hierarchy, with a host directory mounted.
#
#   run-in-vm.sh [options] HOST_DIR CMD [ARGS...]
#
#   One CMD word     -> a bash command line, e.g.  'make test && ./t | tee log'
#   Several words    -> exact argv, no re-splitting, e.g.  ./t.test -test.v
#
# Guest view:
#   /                 the HOST's root filesystem, read-only over 9p, with a
#                     throwaway tmpfs overlay on top (host binaries and their
#                     shared libraries - bash, runc, python3, test binaries -
#                     just work; writes outside HOST_DIR are discarded)
#   HOST_DIR          mounted read-write at the SAME absolute path (9p, as
#                     root, ownership passthrough); the command starts there
#   /sys/fs/cgroup    cgroup2 only (cgroup_no_v1=all, nsdelegate); controllers
#                     cpuset cpu io memory hugetlb pids rdma misc enabled in
#                     the root's cgroup.subtree_control; command in root cgroup
#   /proc /sys /dev /dev/pts /dev/shm /dev/mqueue /tmp /run /var/tmp  fresh
#   network: lo only; no systemd; kernel modules (veth, bridge, nf_tables,
#   loop...) autoload from the unpacked Debian kernel via busybox modprobe
#
# Output: the command's stdout/stderr stream to this script's stdout/stderr
# (virtio-serial); the script exits with the command's exit status.
#   125 = VM failed before reporting a status (console log tail printed)
#   124 = the -t timeout expired
#
# Options / environment:
#   -e NAME=VALUE   export into the command's environment (repeatable)
#   -w DIR          guest working directory (default HOST_DIR)
#   -m MiB          guest memory            (VM_MEM,     default 2048)
#   -c N            guest vCPUs             (VM_CPUS,    default nproc)
#   -t SECONDS      kill the VM after this  (VM_TIMEOUT, default 0 = never)
#   VM_ACCEL=auto|kvm|tcg  auto: KVM when /dev/kvm is read/writable and is not
#                   the PVM flavour (kvm_pvm cannot run a stock kernel), else TCG
#   VM_MACHINE=q35|pc|microvm  (default q35; microvm boots ~0.3 s faster but
#                   under TCG needs tsc_early_khz, taken from /proc/cpuinfo)
#   VM_BIOS=FILE    firmware (default qboot.rom; VM_BIOS= for SeaBIOS)
#   VM_PVH=0|1      1 (default): boot the extracted uncompressed vmlinux via
#                   its PVH entry; 0: boot the bzImage
#   VM_CPU=MODEL    -cpu model (default host for kvm, max for tcg)
#   VM_APPEND=...   extra kernel command line
#   VM_DEBUG=1      kernel console + init trace on stderr
#   VM_HOME=DIR     kernel + initramfs cache (default /tmp/vm, ~450 MB)
#   VM_KERNEL_PKG   Debian kernel package (default: what linux-image-amd64
#                   depends on, e.g. linux-image-6.1.0-56-amd64)
#   run-in-vm.sh --setup    only build the cache (kernel .deb + initramfs)
#
# In this repository: hack/cgroup2-vm.sh, run by hack/test-cgroup2.sh (the cgroup v2
# lane). Adapted from the shared cgroup2-vm.sh tool; one change: the command enters the
# root like switch_root (move + chroot in a private mount namespace) instead of a plain
# chroot, so that it may create user namespaces (linux_uid_mappings, linux_ns_path).
#
# Needs (Debian 12): qemu-system-x86 (--no-install-recommends is enough; it
# pulls qemu-system-data with qboot.rom), busybox-static, xz-utils, apt (to
# download the kernel .deb, never installed); run as root (9p
# security_model=passthrough, chroot, /dev/kvm).
set -euo pipefail

VM_HOME=${VM_HOME:-/tmp/vm}
VM_MEM=${VM_MEM:-2048}
VM_CPUS=${VM_CPUS:-$(nproc)}
VM_TIMEOUT=${VM_TIMEOUT:-0}
VM_ACCEL=${VM_ACCEL:-auto}
VM_DEBUG=${VM_DEBUG:-0}
BUSYBOX=${BUSYBOX:-/bin/busybox}
VM_MACHINE=${VM_MACHINE:-q35}
QBOOT=/usr/share/qemu/qboot.rom
[ -e "$QBOOT" ] || QBOOT=""
VM_BIOS=${VM_BIOS-$QBOOT}      # qboot: much faster than SeaBIOS; VM_BIOS= -> SeaBIOS
VM_PVH=${VM_PVH:-1}            # boot the uncompressed vmlinux via its PVH entry
VM_APPEND=${VM_APPEND:-}
# modules needed before the 9p root is mounted; the rest autoload later
BOOT_MODULES="virtio_pci virtio_mmio virtio_console 9pnet_virtio 9p overlay"

die() { echo "run-in-vm: $*" >&2; exit 125; }

kernel_ver() {  # prints the cached kernel version, if any
  local v
  for v in "$VM_HOME"/kernel/boot/vmlinuz-*; do
    [ -e "$v" ] && { echo "${v##*/vmlinuz-}"; return 0; }
  done
  return 1
}

extract_vmlinux() {  # bzImage -> uncompressed ELF vmlinux (PVH entry: no
  # real-mode setup and no in-guest XZ decompression, which is slow under TCG)
  local kver=$1 z="$VM_HOME/kernel/boot/vmlinuz-$1" x="$VM_HOME/kernel/boot/vmlinux-$1"
  [ -s "$x" ] && return 0
  local off
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$z" | head -1 | cut -d: -f1)
  [ -n "$off" ] || { echo "run-in-vm: $z is not XZ-compressed; PVH boot disabled" >&2; return 1; }
  tail -c +$((off + 1)) "$z" | xz -dc > "$x.tmp" 2>/dev/null   # trailing data -> xz exits 1
  if [ "$(head -c 4 "$x.tmp" | od -An -c | tr -d ' ')" = "177ELF" ]; then
    mv "$x.tmp" "$x"
  else
    rm -f "$x.tmp"; echo "run-in-vm: vmlinux extraction failed; PVH boot disabled" >&2; return 1
  fi
}

setup_kernel() {
  kernel_ver >/dev/null && return 0
  local pkg tmp
  pkg=${VM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
         awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}
  [ -n "$pkg" ] || die "cannot determine kernel package (apt-get update?)"
  echo "run-in-vm: fetching $pkg (not installed, only unpacked)" >&2
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
  mkdir -p "$VM_HOME/kernel"
  dpkg -x "$tmp"/*.deb "$VM_HOME/kernel"
  rm -rf "$tmp"
  local kver; kver=$(kernel_ver) || die "no vmlinuz in $pkg"
  "$BUSYBOX" depmod -b "$VM_HOME/kernel" "$kver"   # modules.dep for busybox modprobe
}

write_init() {  # $1 = path of /init inside the initramfs
  cat > "$1" <<'INIT'
#!/bin/sh
# PID 1 of the throwaway VM (busybox).  Per-run settings come from /vm/env.
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /vm/env
[ "$VM_DEBUG" = 1 ] && set -x
STATUS=/dev/null
halt_vm() { sync; poweroff -f; echo o > /proc/sysrq-trigger; sleep 10; }
fail() { echo "vm-init: $*" >/dev/console; echo 125 > "$STATUS"; halt_vm; }

modprobe -a $BOOT_MODULES || fail "modprobe $BOOT_MODULES"
# virtio-serial ports show up asynchronously
i=0
while :; do
  for p in /sys/class/virtio-ports/vport*; do
    [ -e "$p/name" ] || continue
    case "$(cat "$p/name")" in
      vm.stdout) OUT=/dev/${p##*/};;
      vm.stderr) ERR=/dev/${p##*/};;
      vm.status) STATUS=/dev/${p##*/};;
    esac
  done
  [ -n "$OUT" ] && [ -n "$ERR" ] && [ "$STATUS" != /dev/null ] && [ -c "$STATUS" ] && break
  i=$((i+1)); [ $i -gt 500 ] && fail "virtio-serial ports missing"
  usleep 20000
done

L=/mnt/lower R=/mnt/root
mkdir -p $L /mnt/rw $R
mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=$MSIZE hostroot $L || fail "mount hostroot"
mount -t tmpfs -o mode=0755 rw /mnt/rw && mkdir /mnt/rw/u /mnt/rw/w
mount -t overlay -o lowerdir=$L,upperdir=/mnt/rw/u,workdir=/mnt/rw/w overlay $R || fail "mount overlay"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
for c in cpu cpuset io memory pids hugetlb misc rdma; do
  echo +$c > $R/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || echo "vm-init: cannot enable $c" >/dev/console
done
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t mqueue mqueue $R/dev/mqueue
for f in fd:fd stdin:fd/0 stdout:fd/1 stderr:fd/2; do
  [ -e $R/dev/${f%%:*} ] || ln -s /proc/self/${f#*:} $R/dev/${f%%:*}
done
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o mode=0755 run $R/run
[ -d $R/var/tmp ] && mount -t tmpfs -o mode=1777 vartmp $R/var/tmp
mkdir -p "$R$SHARE"
mount -t 9p -o trans=virtio,version=9p2000.L,cache=mmap,msize=$MSIZE share "$R$SHARE" || fail "mount share"
# full module tree of the guest kernel (from the host, via the 9p root) for
# autoloading (veth, bridge, nf_tables, loop, ...) by /sbin/modprobe (busybox)
if [ -d "$L$KMODDIR" ]; then
  mount --bind "$L$KMODDIR" /lib/modules
  mkdir -p $R/lib/modules && mount --bind "$L$KMODDIR" $R/lib/modules
fi
ip link set lo up
hostname vm
mkdir -p $R/run/vm && cp /vm/cmd.sh $R/run/vm/cmd.sh
echo "vm-init: running command $(cut -d' ' -f1 /proc/uptime)s after boot" >/dev/console

# Enter the new root the way switch_root does (move it onto / in a private mount
# namespace, then chroot .), not with a plain chroot: a chrooted process may not
# create user namespaces (unshare(CLONE_NEWUSER) -> EPERM), and setns() into a
# mount namespace it made would land in the initramfs instead of this root.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root TERM=dumb LANG=C.UTF-8 \
    unshare -m sh -c 'cd "$1" && mount --move . / && exec chroot . /bin/bash /run/vm/cmd.sh' \
    vm-root $R </dev/null >"$OUT" 2>"$ERR"
rc=$?
echo "vm-init: command exited $rc at $(cut -d' ' -f1 /proc/uptime)s" >/dev/console
echo $rc > "$STATUS"
halt_vm
INIT
  chmod 755 "$1"
}

setup_initramfs() {
  local kver=$1
  local img="$VM_HOME/initramfs-$kver.cpio"
  [ -s "$img" ] && [ "$img" -nt "${BASH_SOURCE[0]}" ] && return 0
  [ -x "$BUSYBOX" ] || die "$BUSYBOX missing (apt-get install busybox-static)"
  file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
    ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic' || die "$BUSYBOX is not static (install busybox-static)"
  local st; st=$(mktemp -d)
  mkdir -p "$st"/{bin,sbin,proc,sys,dev,mnt,vm,lib/modules/"$kver"}
  cp "$BUSYBOX" "$st/bin/busybox"
  local a
  for a in $("$BUSYBOX" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$st/bin/$a"
  done
  ln -sf ../bin/busybox "$st/sbin/modprobe"
  # copy the boot modules and their dependencies (modules.dep from setup_kernel)
  local mdir="$VM_HOME/kernel/lib/modules/$kver" m dep
  local want=" "
  for m in $BOOT_MODULES; do
    m=$(cd "$mdir" && grep -E "(^|/)${m//_/[_-]}\.ko(\.[a-z]+)?:" modules.dep) ||
      die "module $m not in $mdir"
    for dep in ${m//:/}; do want="$want$dep "; done
  done
  for dep in $want; do
    mkdir -p "$st/lib/modules/$kver/$(dirname "$dep")"
    cp "$mdir/$dep" "$st/lib/modules/$kver/$dep"
  done
  "$BUSYBOX" depmod -b "$st" "$kver"
  write_init "$st/init"
  (cd "$st" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) > "$img.tmp"
  mv "$img.tmp" "$img"
  rm -rf "$st"
}

setup() {
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install --no-install-recommends qemu-system-x86)"
  setup_kernel
  extract_vmlinux "$(kernel_ver)" || true
  setup_initramfs "$(kernel_ver)"
}

# ---------------------------------------------------------------- arguments
ENVS=() WORKDIR=""
if [ "${1:-}" = --setup ]; then setup; echo "run-in-vm: cache ready in $VM_HOME" >&2; exit 0; fi
while getopts "e:w:m:c:t:h" o; do
  case $o in
    e) ENVS+=("$OPTARG");;
    w) WORKDIR=$OPTARG;;
    m) VM_MEM=$OPTARG;;
    c) VM_CPUS=$OPTARG;;
    t) VM_TIMEOUT=$OPTARG;;
    *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 125;;
  esac
done
shift $((OPTIND-1))
[ $# -ge 2 ] || die "usage: run-in-vm.sh [-e N=V] [-w DIR] [-m MiB] [-c N] [-t SEC] HOST_DIR CMD [ARGS...]"
SHARE=$(cd "$1" && pwd -P) || die "no such directory: $1"
shift
[ "$SHARE" != / ] || die "HOST_DIR must not be /"
[ "$(id -u)" = 0 ] || die "must run as root"

setup
KVER=$(kernel_ver)

# ------------------------------------------------------------ accelerator
ACCEL=$VM_ACCEL
if [ "$ACCEL" = auto ]; then
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
    ACCEL=kvm
  else
    ACCEL=tcg
    [ "$VM_DEBUG" = 1 ] && echo "run-in-vm: no usable KVM ($( [ -d /sys/module/kvm_pvm ] &&
      echo '/dev/kvm is kvm_pvm, needs a PVM guest kernel' || echo 'no /dev/kvm access')) -> TCG" >&2
  fi
fi
case $ACCEL in
  kvm) ACCEL_ARGS=(-accel kvm -cpu "${VM_CPU:-host}");;
  tcg) ACCEL_ARGS=(-accel tcg,thread=multi -cpu "${VM_CPU:-max}");;
  *) die "VM_ACCEL must be auto, kvm or tcg";;
esac

# ------------------------------------------------------------- per-run files
T=$(mktemp -d /tmp/run-in-vm.XXXXXX)
QPID="" CATS=()
cleanup() {
  [ -n "$QPID" ] && kill "$QPID" 2>/dev/null
  local c; for c in ${CATS[@]+"${CATS[@]}"}; do kill "$c" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/cpio/vm"
{
  printf 'SHARE=%q\n' "$SHARE"
  printf 'KMODDIR=%q\n' "$VM_HOME/kernel/lib/modules"
  printf 'BOOT_MODULES=%q\n' "$BOOT_MODULES"
  printf 'MSIZE=%q\n' 262144
  printf 'VM_DEBUG=%q\n' "$VM_DEBUG"
} > "$T/cpio/vm/env"
{
  printf 'cd -- %q || exit 125\n' "${WORKDIR:-$SHARE}"
  for e in ${ENVS[@]+"${ENVS[@]}"}; do
    [[ $e == *=* ]] || die "-e wants NAME=VALUE"
    printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
  done
  if [ $# -eq 1 ]; then
    printf '%s\n' "$1"      # one word: a bash command line, run by this script's bash
  else
    printf 'exec'; printf ' %q' "$@"; printf '\n'
  fi
} > "$T/cpio/vm/cmd.sh"
(cd "$T/cpio" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) > "$T/run.cpio"
cat "$VM_HOME/initramfs-$KVER.cpio" "$T/run.cpio" > "$T/initrd"

mkfifo "$T/out" "$T/err"
cat "$T/out" & CATS+=($!)
cat "$T/err" >&2 & CATS+=($!)
: > "$T/status"
if [ "$VM_DEBUG" = 1 ]; then CONSOLE=(-serial file:/dev/fd/2); LOGLEVEL=7; QLOG=/dev/stderr
else CONSOLE=(-serial "file:$T/console.log"); LOGLEVEL=4; QLOG=$T/qemu.log; fi

case $VM_MACHINE in
  microvm) MACH=(-machine microvm,rtc=on); VDEV=device
    # no PIT/HPET/ACPI-PM timer reference in microvm: under TCG the guest TSC
    # runs at the host TSC rate, so tell the guest kernel that rate
    if [ "$ACCEL" = tcg ]; then
      khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2*1000; exit}' /proc/cpuinfo)
      VM_APPEND="tsc_early_khz=$khz $VM_APPEND"
    fi;;
  pc|q35)  MACH=(-machine "$VM_MACHINE"); VDEV=pci;;
  *) die "VM_MACHINE must be microvm, pc or q35";;
esac
[ -n "$VM_BIOS" ] && MACH+=(-bios "$VM_BIOS")
KIMG=$VM_HOME/kernel/boot/vmlinuz-$KVER
[ "$VM_PVH" = 1 ] && [ -s "$VM_HOME/kernel/boot/vmlinux-$KVER" ] && KIMG=$VM_HOME/kernel/boot/vmlinux-$KVER
QEMU=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
  "${ACCEL_ARGS[@]}" "${MACH[@]}" -m "$VM_MEM" -smp "$VM_CPUS"
  -kernel "$KIMG" -initrd "$T/initrd"
  -append "console=ttyS0 loglevel=$LOGLEVEL panic=-1 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 i8042.noaux i8042.nokbd i8042.nopnp tsc=reliable cryptomgr.notests $VM_APPEND"
  "${CONSOLE[@]}" -monitor none
  -fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap
  -device virtio-9p-$VDEV,fsdev=hostroot,mount_tag=hostroot
  -fsdev local,id=share,path="${SHARE//,/,,}",security_model=passthrough,multidevs=remap
  -device virtio-9p-$VDEV,fsdev=share,mount_tag=share
  -device virtio-serial-$VDEV,id=vser
  -chardev file,id=vmout,path="$T/out" -device virtserialport,bus=vser.0,nr=1,chardev=vmout,name=vm.stdout
  -chardev file,id=vmerr,path="$T/err" -device virtserialport,bus=vser.0,nr=2,chardev=vmerr,name=vm.stderr
  -chardev file,id=vmst,path="$T/status" -device virtserialport,bus=vser.0,nr=3,chardev=vmst,name=vm.status
)
[ "$VM_DEBUG" = 1 ] && echo "run-in-vm: accel=$ACCEL ${QEMU[*]}" >&2

TMO=()
[ "$VM_TIMEOUT" != 0 ] && TMO=(timeout -k 5 "$VM_TIMEOUT")
"${TMO[@]}" "${QEMU[@]}" </dev/null >>"$QLOG" 2>&1 &
QPID=$!
set +e
wait "$QPID"; qrc=$?
QPID=""
# release the fifo readers if qemu never opened the fifos
exec 3<>"$T/out" 4<>"$T/err"; exec 3>&- 4>&-
wait "${CATS[@]}" 2>/dev/null
st=$(tr -dc 0-9 < "$T/status")
if [ -z "$st" ]; then
  [ "$qrc" = 124 ] && { echo "run-in-vm: timed out after ${VM_TIMEOUT}s" >&2; exit 124; }
  echo "run-in-vm: VM ended without reporting a status (qemu rc=$qrc, accel=$ACCEL)" >&2
  tail -n 20 "$T/qemu.log" >&2 2>/dev/null
  [ -f "$T/console.log" ] && tail -n 40 "$T/console.log" >&2
  exit 125
fi
exit "$st"
