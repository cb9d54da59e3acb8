#!/usr/bin/env bash
# Installs runw (binary, man pages, shell completions) and registers it with containerd,
# podman and CRI-O; --uninstall takes out exactly what it added. See usage() or --help.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: hack/install.sh [OPTIONS]

Installs runw under PREFIX (default /usr/local):
  PREFIX/bin/runw                                    target/release/runw (built if missing)
  PREFIX/share/man/man8/runw.8, runw-<command>.8     from `runw man`
  PREFIX/share/bash-completion/completions/runw      from `runw completion bash`
  PREFIX/share/zsh/site-functions/_runw              from `runw completion zsh`
  PREFIX/share/fish/vendor_completions.d/runw.fish   from `runw completion fish`
  PREFIX/share/runw/install-manifest                 what was installed, for --uninstall

and, when asked, registers runw as the runtime "runw" of its callers:
  --containerd          containerd's config.toml: a CRI runtimes.runw entry (containerd's
                        runc shim, BinaryName = PREFIX/bin/runw, Root = /run/containerd/runw,
                        the Wasm annotations); config version 2 (1.x) and 3 (2.x)
  --podman              podman's containers.conf: [engine.runtimes] runw, and runw in
                        [engine] runtime_supports_json
  --crio                CRI-O: a drop-in 50-runw.conf with [crio.runtime.runtimes.runw]
  --all                 each of those whose config (directory) or program is on this machine

Options:
  --prefix PREFIX             install under PREFIX (absolute; default /usr/local)
  --binary FILE               install FILE instead of target/release/runw
  --containerd-config FILE    containerd's config (default /etc/containerd/config.toml)
  --podman-config FILE        podman's config (default /etc/containers/containers.conf)
  --crio-dir DIR              CRI-O's drop-in directory (default /etc/crio/crio.conf.d)
  --uninstall                 remove what an install under PREFIX added: its files (from
                              the manifest) and runw's blocks in the configs it changed
  --dry-run                   say what would change, change nothing
  -h, --help                  this text

What is added to a config file sits between "# BEGIN runw (hack/install.sh)" and "# END runw"
lines; the rest of the file is left as it was, and before a change the file is copied to
FILE.runw-backup. Running it again changes nothing. A config it cannot understand (invalid
TOML, an unknown containerd config version, a runw entry it did not write) is an error, and
then nothing is changed. Restart the caller afterwards as it says (systemctl restart containerd).
EOF
}

die() {
    echo "install.sh: error: $*" >&2
    exit 1
}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER=$REPO/hack/install-config.py
PREFIX=/usr/local
BINARY=""
CONTAINERD_CONFIG=/etc/containerd/config.toml
PODMAN_CONFIG=/etc/containers/containers.conf
CRIO_DIR=/etc/crio/crio.conf.d
CALLERS=()
ALL=0
UNINSTALL=0
DRY_RUN=0

parse_args() {
    local opt value has_value
    while (($#)); do
        opt=$1 has_value=0 value=""
        if [[ $opt == --*=* ]]; then
            value=${opt#*=} opt=${opt%%=*} has_value=1
        fi
        case $opt in
        --prefix | --binary | --containerd-config | --podman-config | --crio-dir)
            if ((!has_value)); then
                (($# >= 2)) || die "$opt needs a value (see --help)"
                value=$2
                shift
            fi
            [[ -n $value ]] || die "$opt needs a value (see --help)"
            case $opt in
            --prefix) PREFIX=$value ;;
            --binary) BINARY=$value ;;
            --containerd-config) CONTAINERD_CONFIG=$value ;;
            --podman-config) PODMAN_CONFIG=$value ;;
            --crio-dir) CRIO_DIR=$value ;;
            esac
            ;;
        --containerd | --podman | --crio | --all | --uninstall | --dry-run | -h | --help)
            ((!has_value)) || die "$opt takes no value"
            case $opt in
            --containerd | --podman | --crio) CALLERS+=("${opt#--}") ;;
            --all) ALL=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --dry-run) DRY_RUN=1 ;;
            *)
                usage
                exit 0
                ;;
            esac
            ;;
        *) die "unknown option \"$1\" (see --help)" ;;
        esac
        shift
    done
    [[ $PREFIX == /* ]] || die "--prefix must be an absolute path, not \"$PREFIX\""
    PREFIX=${PREFIX%/}
}

# The config file of caller $1.
config_of() {
    case $1 in
    containerd) echo "$CONTAINERD_CONFIG" ;;
    podman) echo "$PODMAN_CONFIG" ;;
    crio) echo "$CRIO_DIR/50-runw.conf" ;;
    esac
}

# --all: the callers whose config (directory) or program is on this machine.
present_callers() {
    { [[ -e $CONTAINERD_CONFIG ]] || command -v containerd >/dev/null; } && echo containerd
    { [[ -e $PODMAN_CONFIG ]] || command -v podman >/dev/null; } && echo podman
    { [[ -d $CRIO_DIR ]] || command -v crio >/dev/null; } && echo crio
    return 0
}

select_callers() {
    if ((ALL)); then
        mapfile -t -O "${#CALLERS[@]}" CALLERS < <(present_callers)
        ((${#CALLERS[@]})) || echo "install.sh: --all: found none of containerd, podman, CRI-O"
    fi
    if ((${#CALLERS[@]})); then
        mapfile -t CALLERS < <(printf '%s\n' "${CALLERS[@]}" | awk '!seen[$0]++')
    fi
}

MANIFEST=""
MANIFEST_LINES=()

# Records "$@" (one line) in the manifest, once.
record() {
    local line="$*" old
    for old in "${MANIFEST_LINES[@]}"; do
        [[ $old == "$line" ]] && return 0
    done
    MANIFEST_LINES+=("$line")
}

read_manifest() {
    MANIFEST=$PREFIX/share/runw/install-manifest
    MANIFEST_LINES=()
    if [[ -f $MANIFEST ]]; then
        mapfile -t MANIFEST_LINES <"$MANIFEST"
    fi
}

# mkdir -p, recording each directory it creates.
make_dir() {
    local dir=$1 missing=()
    while [[ ! -d $dir ]]; do
        missing=("$dir" "${missing[@]}")
        dir=$(dirname "$dir")
    done
    for dir in "${missing[@]}"; do
        if ((DRY_RUN)); then
            echo "would create $dir"
        else
            mkdir "$dir"
        fi
        record dir "$dir"
    done
}

# Installs $1 as $2 (mode $3) unless $2 already has that content.
install_file() {
    local src=$1 dest=$2 mode=$3
    make_dir "$(dirname "$dest")"
    record file "$dest"
    if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
        return 0
    fi
    if ((DRY_RUN)); then
        echo "would install $dest"
    else
        install -m "$mode" "$src" "$dest"
        echo "installed $dest"
    fi
}

# The runw binary to install, built when the default one is missing.
source_binary() {
    if [[ -n $BINARY ]]; then
        [[ -x $BINARY ]] || die "--binary $BINARY is not an executable file"
        echo "$BINARY"
        return
    fi
    local built=${CARGO_TARGET_DIR:-$REPO/target}/release/runw
    if [[ ! -x $built ]]; then
        echo "install.sh: $built is missing: cargo build --release" >&2
        cargo build --release --manifest-path "$REPO/Cargo.toml" >&2
    fi
    echo "$built"
}

# Runs the config helper: caller $1, action $2 (add/remove), config file $3, then options
# (--check, or --dry-run with --dry-run).
helper() {
    local caller=$1 action=$2 file=$3
    shift 3
    python3 "$HELPER" "$caller" "$action" "$file" "$PREFIX/bin/runw" "$@"
}

# The helper's option for the real run: --dry-run or nothing.
mode() {
    ((DRY_RUN)) && echo --dry-run
    return 0
}

GEN=""

install_all() {
    local bin caller page shell
    bin=$(source_binary)
    command -v python3 >/dev/null || die "python3 is needed to edit the config files"
    # Every config is checked before anything is written.
    for caller in "${CALLERS[@]}"; do
        helper "$caller" add "$(config_of "$caller")" --check
    done
    # The man pages and completions come from the binary being installed.
    GEN=$(mktemp -d)
    trap 'rm -rf "$GEN"' EXIT
    "$bin" man "$GEN/man8"
    for shell in bash zsh fish; do
        "$bin" completion "$shell" >"$GEN/runw.$shell"
    done

    read_manifest
    install_file "$bin" "$PREFIX/bin/runw" 0755
    for page in "$GEN"/man8/*.8; do
        install_file "$page" "$PREFIX/share/man/man8/${page##*/}" 0644
    done
    install_file "$GEN/runw.bash" "$PREFIX/share/bash-completion/completions/runw" 0644
    install_file "$GEN/runw.zsh" "$PREFIX/share/zsh/site-functions/_runw" 0644
    install_file "$GEN/runw.fish" "$PREFIX/share/fish/vendor_completions.d/runw.fish" 0644
    for caller in "${CALLERS[@]}"; do
        [[ $caller != crio ]] || make_dir "$CRIO_DIR"
        record config "$caller" "$(config_of "$caller")"
        # shellcheck disable=SC2046 # mode prints one word or nothing
        helper "$caller" add "$(config_of "$caller")" $(mode)
    done
    make_dir "$(dirname "$MANIFEST")"
    write_manifest
}

write_manifest() {
    local new
    record file "$MANIFEST"
    new=$(printf '%s\n' "${MANIFEST_LINES[@]}")
    if [[ -f $MANIFEST && $(<"$MANIFEST") == "$new" ]]; then
        return 0
    fi
    if ((DRY_RUN)); then
        echo "would write $MANIFEST"
    else
        printf '%s\n' "$new" >"$MANIFEST"
    fi
}

uninstall_all() {
    local line kind rest caller path configs=() files=() dirs=()
    read_manifest
    for line in "${MANIFEST_LINES[@]}"; do
        kind=${line%% *} rest=${line#* }
        case $kind in
        file) files+=("$rest") ;;
        dir) dirs+=("$rest") ;;
        config) configs+=("$rest") ;;
        esac
    done
    for caller in "${CALLERS[@]}"; do
        configs+=("$caller $(config_of "$caller")")
    done
    if ((${#MANIFEST_LINES[@]} == 0 && ${#configs[@]} == 0)); then
        die "nothing to uninstall: no $MANIFEST"
    fi
    mapfile -t configs < <(printf '%s\n' "${configs[@]}" | awk 'NF && !seen[$0]++')
    # Every config is checked before anything is removed.
    for line in "${configs[@]}"; do
        helper "${line%% *}" remove "${line#* }" --check
    done
    for line in "${configs[@]}"; do
        # shellcheck disable=SC2046 # mode prints one word or nothing
        helper "${line%% *}" remove "${line#* }" $(mode)
    done
    for path in "${files[@]}"; do
        [[ -e $path || -L $path ]] || continue
        if ((DRY_RUN)); then
            echo "would remove $path"
        else
            rm -f "$path"
            echo "removed $path"
        fi
    done
    # Children sort after their parents: reverse order removes them first.
    if ((${#dirs[@]})); then
        while IFS= read -r path; do
            if ((DRY_RUN)); then
                echo "would remove $path if empty"
            elif [[ -d $path ]]; then
                rmdir --ignore-fail-on-non-empty "$path"
            fi
        done < <(printf '%s\n' "${dirs[@]}" | sort -r)
    fi
}

main() {
    parse_args "$@"
    select_callers
    if ((UNINSTALL)); then
        uninstall_all
    else
        install_all
    fi
}

main "$@"
