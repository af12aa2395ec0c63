#!/usr/bin/env bash
# Remote transfer benchmark: push and mirror of a fixture corpus's next version over S3 (rclone serve s3,
# which checks SigV4) and PocketBase, compared with the bytes that are truly new (the generator's ideal).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/remote.sh [--scale SIZE] [--out FILE] [--no-build]

For each remote (S3 via rclone serve s3, PocketBase), on loopback:
  1. snapshot the base corpus, push it (first push)
  2. snapshot the next version in the same folder, push again: bytes uploaded and time
  3. mirror the base snapshot into a fresh folder, then mirror the next snapshot into that folder
     with no local repository: bytes downloaded and reused
and compare bytes uploaded and downloaded with the generator's ideal new bytes (goal: at most 1.2x).
USAGE
}

scale=256M
out=
do_build=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

work=${BENCH_DIR:-$BENCH_HOME/work}/remote-$scale
rm -rf "$work"
mkdir -p "$work"
out=${out:-$work/remote.json}
if ((do_build)); then build_modvault; else find_modvault; fi
modvault=$MODVAULT_BIN
fixtures=$FIXTURES_BIN

servers=$work/servers
bash "$REPO_ROOT/scripts/test-servers.sh" start "$servers" >/dev/null
trap 'bash "$REPO_ROOT/scripts/test-servers.sh" stop "$servers" >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1091
. "$servers/env"

log "corpus $scale"
"$fixtures" --scale "$scale" "$work/src" >/dev/null
ideal=$("$fixtures" --scale "$scale" --next "$work/next-probe" | python3 -c 'import json,sys; print(json.load(sys.stdin)["idealNewBytes"])')
rm -rf "$work/next-probe"

export MODVAULT_PASSWORD=bench
rows=()
run_remote() {
    local label=$1 url=$2
    local repo=$work/$label-repo src=$work/$label-src mirror=$work/$label-mirror
    rm -rf "$src" && cp -a "$work/src" "$src"
    export MODVAULT_REPO=$repo
    "$modvault" init -q >/dev/null
    local base next
    base=$("$modvault" snapshot "$src" -q)
    measure "$work/logs" "$label-push1" "$modvault" push "$url" --json
    "$fixtures" --scale "$scale" --next "$src" >/dev/null
    next=$("$modvault" snapshot "$src" -q)
    measure "$work/logs" "$label-push2" "$modvault" push "$url" --json
    local push_s=$M_SECS push_bytes
    push_bytes=$(json_field "$work/logs/$label-push2.out" bytes_uploaded)
    unset MODVAULT_REPO
    "$modvault" mirror "$url" "$base" --target "$mirror" --json >/dev/null
    measure "$work/logs" "$label-mirror" "$modvault" mirror "$url" "$next" --target "$mirror" --delete --json
    local mirror_s=$M_SECS down reused
    down=$(json_field "$work/logs/$label-mirror.out" bytes_downloaded)
    reused=$(json_field "$work/logs/$label-mirror.out" bytes_reused)
    verify_same "$src" "$mirror" "$work/$label-mirror"
    rows+=("$label $push_bytes $push_s $down $reused $mirror_s")
}
run_remote s3 "s3://modvault-test/bench-$RANDOM?endpoint=$MODVAULT_TEST_S3_ENDPOINT"
pb_url="pocketbase+$MODVAULT_TEST_POCKETBASE/bench$RANDOM"
"$modvault" remote init "$pb_url" >/dev/null
run_remote pocketbase "$pb_url"

printf '\nRemote transfers, corpus %s, ideal new bytes %s\n' "$scale" "$ideal"
printf '%-12s %14s %8s %8s %14s %8s %14s %8s\n' remote push_bytes x_ideal push_s mirror_down x_ideal mirror_reused mirror_s
json_rows=()
for row in "${rows[@]}"; do
    read -r label pb ps md mr ms <<<"$row"
    printf '%-12s %14s %8s %8s %14s %8s %14s %8s\n' "$label" "$pb" "$(ratio "$pb" "$ideal")" "$ps" "$md" "$(ratio "$md" "$ideal")" "$mr" "$ms"
    json_rows+=("\"$label\": {\"push_bytes\": $pb, \"push_s\": $ps, \"mirror_downloaded\": $md, \"mirror_reused\": $mr, \"mirror_s\": $ms}")
done
(IFS=,; printf '{"scale": "%s", "ideal_new_bytes": %s, %s, "machine": %s}\n' "$scale" "$ideal" "${json_rows[*]}" "$(machine_json)") >"$out"
log "wrote $out"
