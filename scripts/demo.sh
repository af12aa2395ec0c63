#!/usr/bin/env bash
# The main job end to end on the embedded defaults: build, make a sample mod folder,
# snapshot it into a new encrypted repository, check it, restore it and compare.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/demo.sh [--scale SIZE] [--dir DIR] [--no-setup]

  1. scripts/setup.sh (system libraries), then a release build of modvault and modvault-fixtures
  2. modvault-fixtures --scale SIZE DIR/Data          (a sample Fallout 4 Data folder)
  3. with MODVAULT_REPO=DIR/repo and a password file DIR/password:
       modvault init
       modvault snapshot DIR/Data --tag demo
       modvault snapshots
       modvault check --read-data
       modvault restore latest --target DIR/restored
  4. diff -r DIR/Data DIR/restored: the restore must equal the source
  5. sync between two devices through a folder remote DIR/remote: device A syncs DIR/Data,
     device B (MODVAULT_REPO=DIR/repo-b, a clone) syncs DIR/Data-b; each edits a file, both sync,
     and the two folders must be equal; then modvault log shows the pushes
  6. sharing by invite: device A prints a one-time code (modvault share), a teammate joins with it
     into DIR/repo-c and DIR/Data-c (modvault join CODE --folder), and a second use is refused
     (a folder remote cannot enforce roles: the demo says so; PocketBase does, see Docs/SHARING.md)

  --scale SIZE  corpus size for modvault-fixtures (default 64M)
  --dir DIR     working folder, wiped first (default $MODVAULT_DEMO_DIR or /tmp/modvault-demo)
  --no-setup    skip scripts/setup.sh
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scale=64M
dir=${MODVAULT_DEMO_DIR:-/tmp/modvault-demo}
setup=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift ;;
        --dir) dir=${2:?--dir needs a value}; shift ;;
        --no-setup) setup=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "demo: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

step() { printf '\n== %s\n' "$*"; }
run() {
    printf '$ %s\n' "$*"
    "$@"
}

# ---- a safe, empty working folder --------------------------------------------------------
dir=$(realpath -m "$dir")
marker=.modvault-demo
case "$dir" in
    / | "$HOME" | "$ROOT" | "$ROOT"/*) echo "demo: refusing to use $dir as the demo folder" >&2; exit 2 ;;
esac
mkdir -p "$dir"
if [[ -n $(ls -A "$dir") && ! -e $dir/$marker ]]; then
    echo "demo: $dir is not empty and was not made by this script; choose another --dir" >&2
    exit 2
fi
step "working folder $dir (wiped)"
find "$dir" -mindepth 1 -delete
touch "$dir/$marker"

# ---- build -------------------------------------------------------------------------------
cd "$ROOT"
if ((setup)); then
    step "setup"
    run bash scripts/setup.sh --no-pip
fi
step "release build"
run swift build -c release --product modvault
run swift build -c release --product modvault-fixtures
bin=$(swift build -c release --show-bin-path)
modvault=$bin/modvault

# ---- sample data -------------------------------------------------------------------------
step "sample mod folder ($scale)"
run "$bin/modvault-fixtures" --scale "$scale" "$dir/Data"
files=$(find "$dir/Data" -type f | wc -l)
bytes=$(find "$dir/Data" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
echo "$files files, $bytes bytes"

# ---- the main job ------------------------------------------------------------------------
export MODVAULT_REPO=$dir/repo
export MODVAULT_PASSWORD_FILE=$dir/password
( umask 077 && printf 'modvault-demo-%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$MODVAULT_PASSWORD_FILE" )
echo "MODVAULT_REPO=$MODVAULT_REPO"
echo "MODVAULT_PASSWORD_FILE=$MODVAULT_PASSWORD_FILE"

step "create the repository"
run "$modvault" init
step "snapshot"
run "$modvault" snapshot "$dir/Data" --tag demo
step "list snapshots"
run "$modvault" snapshots
step "check, reading all data"
run "$modvault" check --read-data
step "restore the latest snapshot"
run "$modvault" restore latest --target "$dir/restored"

step "compare"
run diff -r "$dir/Data" "$dir/restored"
repo_bytes=$(du -sb --exclude=cache "$MODVAULT_REPO" | cut -f1)
echo "restore is identical to the source: $files files, $bytes bytes; repository $repo_bytes bytes (without its local cache)"

# ---- sync between two devices ---------------------------------------------------------------
# Each device has its own repository and device ID; they share the folder remote DIR/remote.
step "sync: device A binds DIR/Data to a shared remote and pushes it"
export XDG_CONFIG_HOME=$dir/config-a
run "$modvault" sync "$dir/Data" --remote "$dir/remote"
b() { MODVAULT_REPO=$dir/repo-b XDG_CONFIG_HOME=$dir/config-b "$modvault" "$@"; }
step "sync: device B clones the repository and syncs an empty folder"
printf '$ MODVAULT_REPO=%s modvault clone %s\n' "$dir/repo-b" "$dir/remote"
b clone "$dir/remote"
mkdir -p "$dir/Data-b"
printf '$ MODVAULT_REPO=%s modvault sync %s --remote %s\n' "$dir/repo-b" "$dir/Data-b" "$dir/remote"
b sync "$dir/Data-b" --remote "$dir/remote"
step "sync: both edit a file at once, then both sync (the second merges three-way)"
printf 'notes from A\n' >"$dir/Data/notes-from-a.txt"
printf 'notes from B\n' >"$dir/Data-b/notes-from-b.txt"
run "$modvault" sync "$dir/Data"
printf '$ MODVAULT_REPO=%s modvault sync %s\n' "$dir/repo-b" "$dir/Data-b"
b sync "$dir/Data-b"
run "$modvault" sync "$dir/Data"
run diff -r -x .modvault "$dir/Data" "$dir/Data-b"
step "sync: the remote's push log"
run "$modvault" log "$dir/remote"
run "$modvault" status "$dir/Data"
echo "sync OK: both folders hold the same $(find "$dir/Data-b" -path '*/.modvault' -prune -o -type f -print | wc -l) files"

# ---- sharing by invite ----------------------------------------------------------------------
step "share: device A invites a teammate as a writer (the code works once, for 2 hours)"
printf '$ modvault share %s --role writer --expires 2h
' "$dir/remote"
code=$("$modvault" share "$dir/remote" --role writer --expires 2h)
echo "$code"
c() { MODVAULT_REPO=$dir/repo-c XDG_CONFIG_HOME=$dir/config-c "$modvault" "$@"; }
step "join: the teammate joins with the code, with a repository and folder of their own"
printf '$ MODVAULT_REPO=%s modvault join CODE --folder %s
' "$dir/repo-c" "$dir/Data-c"
c join "$code" --folder "$dir/Data-c"
run diff -r -x .modvault "$dir/Data" "$dir/Data-c"
step "join: a second use of the same code is refused"
if c join "$code" --repo "$dir/repo-d" 2>"$dir/second-join.err"; then
    echo "demo: a used invite code was accepted twice" >&2
    exit 1
fi
cat "$dir/second-join.err"
echo "share OK: the teammate's folder holds the same $(find "$dir/Data-c" -path '*/.modvault' -prune -o -type f -print | wc -l) files"
echo "demo OK"
