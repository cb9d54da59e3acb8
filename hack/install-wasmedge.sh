#!/usr/bin/env bash
# Builds WasmEdge 0.17.1 (the version wasmedge-sdk 0.17.1 / wasmedge-sys 0.21 binds) from a
# source archive or directory and installs it, for `cargo build --features wasmedge`.
# Idempotent: returns at once when the same version with the same AOT setting is installed.
# See usage() or --help; docs/wasm.md ("Building with WasmEdge") for the whole procedure.
#
# Nothing is downloaded: the build dependencies come from apt (Debian 12), spdlog and fmt are
# Debian's (WasmEdge's CMake would otherwise FetchContent them from GitHub), and as root the
# configure and build steps run in a network namespace of their own (`unshare --net`), so an
# attempt to fetch anything fails the build instead of going unnoticed.
set -euo pipefail

WASMEDGE_VERSION=0.17.1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEFAULT_SOURCE=$ROOT/../shared/vendor/wasmedge-$WASMEDGE_VERSION-src.tar.gz
# Debian 12's LLVM for the ahead-of-time compiler: llvm-15 is the newest with a matching
# liblld-15-dev there (llvm-14-dev with liblld-14-dev would do as well). Its libLLVM-15.so.1
# (package libllvm15) becomes a run-time dependency of libwasmedge.so.
LLVM_VERSION=15

usage() {
    cat <<EOF
usage: hack/install-wasmedge.sh [OPTIONS]

Builds WasmEdge $WASMEDGE_VERSION from source and installs it under PREFIX:
  PREFIX/lib/libwasmedge.so*            the C API library runw links against
  PREFIX/include/wasmedge/              its headers (wasmedge-sys generates bindings from them)
  PREFIX/bin/wasmedge, wasmedgec        the command-line tools (wasmedgec only with AOT)
  PREFIX/share/wasmedge/runw-install    what this script installed (version, AOT), for reruns
then runs ldconfig, so that runw finds libwasmedge.so.0 with no LD_LIBRARY_PATH (a PREFIX
whose lib/ is not on the loader's path gets an /etc/ld.so.conf.d/wasmedge.conf entry).

Options:
  --source ARCHIVE|DIR  WasmEdge's source: a .tar.gz (with or without a top directory) or an
                        unpacked tree (default: ../shared/vendor/wasmedge-$WASMEDGE_VERSION-src.tar.gz
                        relative to the project, when it exists)
  --prefix PREFIX       install prefix (absolute; default /usr/local)
  --no-aot              no LLVM ahead-of-time compiler (interpreter only; no llvm-15-dev)
  --jobs N              parallel compile jobs (default: the number of CPUs)
  --build-dir DIR       where to unpack and build (default target/wasmedge-build)
  --force               rebuild and reinstall even when the same build is installed
  -h, --help            this help

Build dependencies installed with apt when missing (Debian 12): cmake ninja-build g++ patch
libspdlog-dev libfmt-dev zlib1g-dev libzstd-dev, and with AOT llvm-15-dev liblld-15-dev.
EOF
}

die() {
    echo "install-wasmedge.sh: error: $*" >&2
    exit 1
}

log() {
    echo "install-wasmedge.sh: $*" >&2
}

parse_args() {
    SOURCE=
    PREFIX=/usr/local
    AOT=1
    JOBS=$(nproc)
    BUILD_DIR=$ROOT/target/wasmedge-build
    FORCE=0
    while (($#)); do
        case $1 in
        --source) SOURCE=${2:?--source needs an archive or a directory}; shift ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
        --no-aot) AOT=0 ;;
        --jobs) JOBS=${2:?--jobs needs a number}; shift ;;
        --build-dir) BUILD_DIR=${2:?--build-dir needs a directory}; shift ;;
        --force) FORCE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
        esac
        shift
    done
    [[ $PREFIX == /* ]] || die "--prefix must be an absolute path, not '$PREFIX'"
    [[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, not '$JOBS'"
    if [[ -z $SOURCE ]]; then
        [[ -e $DEFAULT_SOURCE ]] ||
            die "no --source given and $DEFAULT_SOURCE does not exist"
        SOURCE=$DEFAULT_SOURCE
    fi
    [[ -e $SOURCE ]] || die "source $SOURCE does not exist"
    SOURCE=$(realpath "$SOURCE")
    AOT_WORD=$([[ $AOT == 1 ]] && echo on || echo off)
    MARKER=$PREFIX/share/wasmedge/runw-install
    # A new or changed patch must reach the installed library.
    PATCHES=$(cat "$ROOT"/hack/wasmedge-*.patch | sha256sum | cut -d' ' -f1)
}

# The marker records what this script installed; the header and the library must still be
# there too (someone may have removed them since).
already_installed() {
    [[ -f $MARKER && -f $PREFIX/include/wasmedge/version.h && -e $PREFIX/lib/libwasmedge.so.0 ]] ||
        return 1
    grep -qx "version=$WASMEDGE_VERSION" "$MARKER" && grep -qx "aot=$AOT_WORD" "$MARKER" &&
        grep -qx "patches=$PATCHES" "$MARKER" &&
        grep -q "^#define WASMEDGE_VERSION \"$WASMEDGE_VERSION\"" "$PREFIX/include/wasmedge/version.h"
}

install_build_dependencies() {
    local packages=(cmake ninja-build g++ patch libspdlog-dev libfmt-dev zlib1g-dev libzstd-dev)
    if [[ $AOT == 1 ]]; then
        packages+=("llvm-$LLVM_VERSION-dev" "liblld-$LLVM_VERSION-dev")
    fi
    local missing=() pkg
    for pkg in "${packages[@]}"; do
        if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing build dependencies (${missing[*]}); run as root or install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
}

# Unpacks (or copies) the source into $BUILD_DIR/src and applies hack/wasmedge-*.patch. An
# archive already unpacked and patched by an earlier run (same archive, same patches) is
# reused, so that a rerun after a failed build goes on where ninja stopped: unpacking again
# would give the patched header a new mtime, and rebuild nearly everything.
prepare_source() {
    local stamp_file=$BUILD_DIR/src.stamp stamp=
    if [[ -f $SOURCE ]]; then
        stamp="$SOURCE $(stat -c '%s %Y' "$SOURCE") $(cat "$ROOT"/hack/wasmedge-*.patch | sha256sum)"
        if [[ -f $stamp_file && $(head -n1 "$stamp_file") == "$stamp" ]]; then
            SRC=$(sed -n 2p "$stamp_file")
            [[ -f $SRC/CMakeLists.txt ]] && return 0
        fi
    fi
    rm -f "$stamp_file"
    unpack_source
    check_source
    apply_patches
    if [[ -n $stamp ]]; then
        printf '%s\n%s\n' "$stamp" "$SRC" > "$stamp_file"
    fi
}

unpack_source() {
    SRC=$BUILD_DIR/src
    rm -rf "$SRC"
    mkdir -p "$SRC"
    if [[ -d $SOURCE ]]; then
        [[ -f $SOURCE/CMakeLists.txt ]] || die "$SOURCE is not a WasmEdge source tree (no CMakeLists.txt)"
        cp -a "$SOURCE/." "$SRC/"
    else
        tar -xzf "$SOURCE" -C "$SRC" 2>/dev/null || die "cannot unpack $SOURCE (not a .tar.gz archive?)"
        # Release archives from GitHub have a top directory; the vendored one does not.
        local entries=("$SRC"/*)
        if ((${#entries[@]} == 1)) && [[ -d ${entries[0]} && ! -e $SRC/CMakeLists.txt ]]; then
            SRC=${entries[0]}
        fi
    fi
}

check_source() {
    [[ -f $SRC/CMakeLists.txt && -f $SRC/include/api/wasmedge/wasmedge.h ]] ||
        die "$SOURCE does not hold WasmEdge's source (no CMakeLists.txt, include/api/wasmedge/wasmedge.h)"
    local found
    found=$(source_version "$SRC")
    [[ $found == "$WASMEDGE_VERSION" ]] ||
        die "$SOURCE is WasmEdge ${found:-of unknown version}, this script builds $WASMEDGE_VERSION"
    # Without .git or a VERSION file (GitHub's tag archives have neither), WasmEdge's CMake
    # calls itself 0.0.0-unreleased, in WASMEDGE_VERSION of the installed version.h too.
    [[ -f $SRC/VERSION ]] || printf '%s' "$WASMEDGE_VERSION" > "$SRC/VERSION"
}

apply_patches() {
    local patch
    for patch in "$ROOT"/hack/wasmedge-*.patch; do
        patch -d "$SRC" -p1 --quiet --forward < "$patch" ||
            die "$(basename "$patch") does not apply to $SOURCE"
    done
}

# The version of a source tree: its VERSION file, else the newest entry of Changelog.md.
source_version() {
    if [[ -f $1/VERSION ]]; then
        tr -d ' \n' < "$1/VERSION"
    elif [[ -f $1/Changelog.md ]]; then
        sed -n 's/^### \([0-9][0-9.]*\) .*/\1/p' "$1/Changelog.md" | head -n1
    fi
}

# Runs a command without network access when we can (root: a new network namespace with
# only a loopback that is down); otherwise as is.
offline() {
    if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null; then
        unshare --net -- "$@"
    else
        "$@"
    fi
}

configure_and_build() {
    BUILD=$BUILD_DIR/build-aot-$AOT_WORD
    local args=(
        -G Ninja -S "$SRC" -B "$BUILD"
        -DCMAKE_BUILD_TYPE=Release
        -DCMAKE_INSTALL_PREFIX="$PREFIX"
        # wasmedge-sys looks in PREFIX/lib64 before PREFIX/lib; lib is where ldconfig looks.
        -DCMAKE_INSTALL_LIBDIR=lib
        -DWASMEDGE_BUILD_SHARED_LIB=ON
        -DWASMEDGE_BUILD_STATIC_LIB=OFF
        # The wasmedge and wasmedgec tools: two small programs over the shared library, to
        # check the install and compile modules ahead of time.
        -DWASMEDGE_BUILD_TOOLS=ON
        -DWASMEDGE_BUILD_TESTS=OFF
        -DWASMEDGE_BUILD_PLUGINS=OFF
        -DWASMEDGE_BUILD_EXAMPLE=OFF
        # LTO makes each link take minutes on a small machine, for a few percent of speed.
        -DWASMEDGE_FORCE_DISABLE_LTO=ON
        # Any FetchContent (fmt, spdlog, simdjson...) fails instead of cloning from GitHub.
        -DFETCHCONTENT_FULLY_DISCONNECTED=ON
    )
    if [[ $AOT == 1 ]]; then
        args+=(
            -DWASMEDGE_USE_LLVM=ON
            -DLLVM_DIR="/usr/lib/llvm-$LLVM_VERSION/lib/cmake/llvm"
            -DLLD_DIR="/usr/lib/llvm-$LLVM_VERSION/lib/cmake/lld"
        )
    else
        args+=(-DWASMEDGE_USE_LLVM=OFF)
    fi
    mkdir -p "$BUILD"
    log "configuring (AOT $AOT_WORD) in $BUILD"
    offline cmake "${args[@]}" > "$BUILD/configure.log" 2>&1 ||
        die "cmake configure failed, see $BUILD/configure.log"
    # WasmEdge's CMake falls back to downloading fmt and spdlog when it finds no spdlog.
    grep -q "spdlog found" "$BUILD/configure.log" ||
        die "cmake did not find Debian's spdlog (libspdlog-dev), see $BUILD/configure.log"
    log "building with $JOBS jobs (log: $BUILD/build.log)"
    offline cmake --build "$BUILD" --parallel "$JOBS" > "$BUILD/build.log" 2>&1 ||
        die "build failed, see $BUILD/build.log"
}

install_and_register() {
    log "installing into $PREFIX"
    cmake --install "$BUILD" > "$BUILD/install.log" 2>&1 ||
        die "cmake --install failed, see $BUILD/install.log"
    # A wasmedgec left by an earlier install with AOT would fail with this library.
    [[ $AOT == 1 ]] || rm -f "$PREFIX/bin/wasmedgec"
    register_library_dir
    mkdir -p "$(dirname "$MARKER")"
    printf 'version=%s\naot=%s\npatches=%s\nsource=%s\n' "$WASMEDGE_VERSION" "$AOT_WORD" "$PATCHES" \
        "$SOURCE" > "$MARKER"
}

# runw is started by containerd's shim, podman (conmon) or CRI-O with an environment of
# their making: libwasmedge.so.0 must be where the dynamic loader looks by itself, i.e. in
# ld.so.cache. /usr/local/lib is in Debian's default configuration (libc.conf); another
# PREFIX gets its own entry.
register_library_dir() {
    [[ $(id -u) == 0 ]] || {
        log "warning: not root, ldconfig not run: runw finds $PREFIX/lib/libwasmedge.so.0 only with LD_LIBRARY_PATH"
        return 0
    }
    local libdir=$PREFIX/lib conf=/etc/ld.so.conf.d/wasmedge.conf
    if ! ldconfig -v -N 2>/dev/null | grep -q "^$libdir:"; then
        echo "$libdir" > "$conf"
        log "added $libdir to the loader's path ($conf)"
    fi
    ldconfig
    ldconfig -p | grep -q "libwasmedge.so.0 .*=> $libdir/" ||
        die "ldconfig does not list $libdir/libwasmedge.so.0"
}

main() {
    parse_args "$@"
    if [[ $FORCE == 0 ]] && already_installed; then
        log "WasmEdge $WASMEDGE_VERSION (AOT $AOT_WORD) is already installed in $PREFIX"
        return 0
    fi
    install_build_dependencies
    local start=$SECONDS
    prepare_source
    configure_and_build
    install_and_register
    log "installed WasmEdge $WASMEDGE_VERSION (AOT $AOT_WORD) in $PREFIX in $((SECONDS - start))s"
}

main "$@"
