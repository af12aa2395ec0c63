#!/usr/bin/env bash
# Folder sync between two devices (issue 11): for each kind of change, the bytes one device uploads
# and the other downloads, against the change's ideal new bytes and against what rsync sends for the
# same change between two folders; and the time of a sync with nothing to do and of a one-plugin edit.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SCENARIOS=(texture script-front plugin repack reorder loose-dds rename new-mod all)
ALL_REMOTES=(disk s3)

usage() {
    cat <<USAGE
Usage: Benchmarks/sync.sh [--scale SIZE] [--only NAME[,NAME]] [--remotes disk,s3] [--no-build]

Two devices, A and B, each with its own repository (B a clone of A's), folder and device ID, share
one remote. For each scenario a fresh pair is set up: A's folder starts as the fixture base and is
synced to B (not measured). Then A's
folder becomes the scenario tree (files with unchanged content keep their inode and times, as a mod
manager leaves them) and A syncs; B syncs. Measured: bytes A uploads and B downloads (from sync
--json), each sync's time, and the bytes rsync -a --no-whole-file sends to bring a copy of B's folder
up to A's (Debian rsync, same run).

Also: a sync that finds nothing to do on the base, and the plugin scenario end to end (A's sync plus
B's) on the disk remote.

Scenarios: ${ALL_SCENARIOS[*]} (as in Benchmarks/scenarios.sh; flat-data is left out)
Remotes:   disk (a folder), s3 (moto_server on 127.0.0.1, started by scripts/test-servers.sh)

Options:
  --scale SIZE        corpus size (default 256M; 1536M for the 1.5 GiB run)
  --only NAME[,NAME]  run only these scenarios
  --remotes LIST      comma-separated subset of: ${ALL_REMOTES[*]}
  --no-build          reuse the release build
  -h, --help          this text

Goals: uploaded and downloaded each <= 1.2 x ideal + 64 KiB and <= rsync's bytes sent; a sync with
nothing to do <= 0.5 s; a one-plugin edit synced end to end <= 2 s on a disk remote.
Writes WORK/sync.md and WORK/sync.jsonl, WORK = \${BENCH_DIR:-Benchmarks/work}/sync/SIZE.
USAGE
}

scale=256M
only=
remotes_arg=$(IFS=,; echo "${ALL_REMOTES[*]}")
do_build=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift ;;
        --only) only=${2:?--only needs a value}; shift ;;
        --remotes) remotes_arg=${2:?--remotes needs a value}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
scenarios=("${ALL_SCENARIOS[@]}")
[[ -z $only ]] || IFS=, read -r -a scenarios <<<"$only"
for s in "${scenarios[@]}"; do in_list "$s" "${ALL_SCENARIOS[@]}" || die "unknown scenario '$s'"; done
IFS=, read -r -a remotes <<<"$remotes_arg"
for r in "${remotes[@]}"; do in_list "$r" "${ALL_REMOTES[@]}" || die "unknown remote '$r'"; done
command -v rsync >/dev/null || die "rsync missing: run scripts/setup.sh"
command -v /usr/bin/time >/dev/null || die "/usr/bin/time missing: run scripts/setup.sh"

if ((do_build)); then build_modvault; else find_modvault; fi
WORK=${BENCH_DIR:-$BENCH_HOME/work}/sync/$scale
CORPUS=${BENCH_DIR:-$BENCH_HOME/work}/scenarios/$scale/corpus
mkdir -p "$WORK"
fixture_tree "$CORPUS" "$scale" base
declare -A IDEAL=()
for s in "${scenarios[@]}"; do
    fixture_tree "$CORPUS" "$scale" "$s" --scenario "$s"
    IDEAL[$s]=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["idealNewBytes"])' "$CORPUS/$s.json")
done
printf 'modvault-bench-password\n' >"$WORK/password"
chmod 600 "$WORK/password"

if in_list s3 "${remotes[@]}"; then
    servers=$WORK/servers
    bash "$REPO_ROOT/scripts/test-servers.sh" start "$servers" >/dev/null
    trap 'bash "$REPO_ROOT/scripts/test-servers.sh" stop "$servers" >/dev/null 2>&1 || true' EXIT
    # shellcheck disable=SC1091
    source "$servers/env"
fi

# dev_env NAME: the environment of device NAME (its own repository, config home and so device ID).
dev_env() { printf '%s\n' "MODVAULT_REPO=$WORK/$1-repo" "MODVAULT_PASSWORD_FILE=$WORK/password" "XDG_CONFIG_HOME=$WORK/$1-config"; }
# dev NAME ARGS...: modvault as device NAME.
dev() {
    local name=$1 vars
    shift
    mapfile -t vars < <(dev_env "$name")
    env "${vars[@]}" "$MODVAULT_BIN" "$@"
}
# update FROM TO: TO becomes FROM's content as lib.sh's sync_source makes it, keeping TO's .modvault.
update() { rsync -a --no-times --checksum --delete --exclude /.modvault "$1/" "$2/"; }
# timed_sync LOGS LABEL DEVICE: one sync --json of DEVICE's folder; sets SECS, UP, DOWN.
timed_sync() {
    local logs=$1 label=$2 name=$3 vars
    mapfile -t vars < <(dev_env "$name")
    measure "$logs" "$label" env "${vars[@]}" "$MODVAULT_BIN" sync "$WORK/$name" --json
    SECS=$M_SECS
    UP=$(tail -n 1 "$logs/$label.out" | json_field /dev/stdin bytes_uploaded)
    DOWN=$(tail -n 1 "$logs/$label.out" | json_field /dev/stdin bytes_downloaded)
}
# rsync_sent FROM TO: bytes rsync sends to make TO like FROM with its delta algorithm.
rsync_sent() {
    rsync -a --no-whole-file --delete --stats --exclude /.modvault "$1/" "$2/" | awk -F': ' '/^Total bytes sent/ { gsub(/,/, "", $2); print $2 }'
}

# setup REMOTE: fresh devices on a fresh remote, both folders holding the base (sets URL, LOGS).
setup() {
    LOGS=$WORK/logs-$1
    rm -rf "$WORK"/a "$WORK"/b "$WORK"/a-* "$WORK"/b-* "$WORK/remote"
    case "$1" in
        disk) URL=$WORK/remote ;;
        s3) URL="s3://modvault-test/sync-$(date +%s%N)?endpoint=$MODVAULT_TEST_MOTO_ENDPOINT" ;;
    esac
    update "$CORPUS/base" "$WORK/a"
    mkdir -p "$WORK/b"
    dev a init -q >/dev/null
    dev a sync "$WORK/a" --remote "$URL" -q >/dev/null
    dev b clone "$URL" -q >/dev/null
    dev b sync "$WORK/b" --remote "$URL" -q >/dev/null
}

rows=()
: >"$WORK/sync.jsonl"
for remote in "${remotes[@]}"; do
    rm -rf "$WORK/logs-$remote"
    # Each scenario starts from its own fresh pair, so no scenario finds data an earlier one uploaded.
    for s in "${scenarios[@]}"; do
        log "remote $remote, scenario $s: setting up"
        setup "$remote"
        if [[ $s == "${scenarios[0]}" ]]; then
            timed_sync "$LOGS" noop-a a
            noop_s=$SECS
            timed_sync "$LOGS" noop-a-again a
            (( $(awk -v a="$SECS" -v b="$noop_s" 'BEGIN { print (a < b) }') )) && noop_s=$SECS
            log "  nothing to do: $noop_s s"
        fi
        rm -rf "$WORK/rsync-copy" && cp -a "$WORK/b" "$WORK/rsync-copy" && rm -rf "$WORK/rsync-copy/.modvault"
        update "$CORPUS/$s" "$WORK/a"
        warm_cache "$WORK/a"
        timed_sync "$LOGS" "$s-a" a
        up=$UP up_s=$SECS
        timed_sync "$LOGS" "$s-b" b
        down=$DOWN down_s=$SECS
        sent=$(rsync_sent "$WORK/a" "$WORK/rsync-copy")
        if ! diff -r -q -x .modvault "$WORK/a" "$WORK/b" >/dev/null; then die "$s on $remote: the two folders differ after syncing"; fi
        ideal=${IDEAL[$s]}
        limit=$(awk -v i="$ideal" 'BEGIN { printf "%.0f\n", 1.2 * i + 65536 }')
        ok=yes
        ((up <= limit && down <= limit && up <= sent && down <= sent)) || ok=no
        rows+=("$remote $s $ideal $up $down $sent $up_s $down_s $ok")
        printf '{"remote": "%s", "scenario": "%s", "ideal": %s, "uploaded": %s, "downloaded": %s, "rsync_sent": %s, "sync_a_s": %s, "sync_b_s": %s, "goal_met": "%s"}\n' \
            "$remote" "$s" "$ideal" "$up" "$down" "$sent" "$up_s" "$down_s" "$ok" >>"$WORK/sync.jsonl"
    done
    rows+=("$remote nothing-to-do - - - - $noop_s - -")
    printf '{"remote": "%s", "scenario": "nothing-to-do", "sync_a_s": %s}\n' "$remote" "$noop_s" >>"$WORK/sync.jsonl"
done

{
    printf '# Folder sync, corpus %s\n\nCommand: `Benchmarks/sync.sh --scale %s`\n\n' "$scale" "$scale"
    printf '| remote | scenario | ideal | A uploaded | B downloaded | rsync sent | A sync s | B sync s | goal met |\n|---|---|---|---|---|---|---|---|---|\n'
    for row in "${rows[@]}"; do
        read -r r s i u d x a b ok <<<"$row"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$s" "$i" "$u" "$d" "$x" "$a" "$b" "$ok"
    done
} | tee "$WORK/sync.md"
