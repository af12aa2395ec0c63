#!/usr/bin/env bash
# Remote transfer benchmark: push and mirror of a fixture corpus's next version over S3 (rclone serve s3,
# which checks SigV4) and PocketBase, compared with the bytes that are truly new (the generator's ideal).
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/remote.sh [--part bytes|speed|all] [--scale SIZE] [--servers LIST] [--out FILE] [--no-build]

--part speed (issue 15): transfer time against the pace of the link, on each server of LIST
(default s3,moto,pocketbase,http), all on loopback and shared by every tool in the same run:
  push of a fresh repository       vs  rclone copy of the repository folder up, restic backup
  mirror (no local repository)     vs  rclone copy of the repository folder down, restic restore
  clone                            vs  the same two
Reported as seconds, MB/s and ratios, with peak RSS. Default scale for speed: 1536M.
HTTP is read-only: the repository is copied into the static server's folder, and only mirror and
clone run. PocketBase has no rclone or restic back end: modvault alone, against its own S3 figures.

--part bytes: for each remote (S3 via rclone serve s3, PocketBase), on loopback:
  1. snapshot the base corpus, push it (first push)
  2. snapshot the next version in the same folder, push again: bytes uploaded and time
  3. mirror the base snapshot into a fresh folder, then mirror the next snapshot into that folder
     with no local repository: bytes downloaded and reused
and compare bytes uploaded and downloaded with the generator's ideal new bytes (goal: at most 1.2x).
USAGE
}

scale=
part=bytes
servers_list=s3,moto,pocketbase,http
out=
do_build=1
while (($#)); do
    case "$1" in
        --part) part=${2:?}; shift ;;
        --servers) servers_list=${2:?}; shift ;;
        --scale) scale=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

case "$part" in bytes | speed | all) ;; *) die "--part must be bytes, speed or all" ;; esac
[[ -n $scale ]] || { [[ $part == bytes ]] && scale=256M || scale=1536M; }
work=${BENCH_DIR:-$BENCH_HOME/work}/remote-$scale
trap empty_trash EXIT  # replaced below, once the servers run, by one that also stops them
set_aside "$work"
mkdir -p "$work"
out=${out:-$work/remote.json}
if ((do_build)); then build_modvault; else find_modvault; fi
modvault=$MODVAULT_BIN
fixtures=$FIXTURES_BIN

servers=$work/servers
bash "$REPO_ROOT/scripts/test-servers.sh" start "$servers" >/dev/null
trap 'bash "$REPO_ROOT/scripts/test-servers.sh" stop "$servers" >/dev/null 2>&1 || true; empty_trash' EXIT
# shellcheck disable=SC1091
. "$servers/env"

export MODVAULT_PASSWORD=bench

bytes_part() {
    log "corpus $scale"
    "$fixtures" --scale "$scale" "$work/src" >/dev/null
    ideal=$("$fixtures" --scale "$scale" --next "$work/next-probe" | python3 -c 'import json,sys; print(json.load(sys.stdin)["idealNewBytes"])')
    rm -rf "$work/next-probe"

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
}

# ---- speed (issue 15) -----------------------------------------------------------------------------

speed_rows=()
# speed_one LABEL URL RCLONE_REMOTE RESTIC_REPO: RCLONE_REMOTE/RESTIC_REPO empty when the server has none.
speed_one() {
    local label=$1 url=$2 rc=$3 rr=$4 logs=$work/logs-speed
    local repo=$work/speed-repo
    local push_s=null push_rss=null up_s=null backup_s=null mirror_s=null mirror_rss=null mirror_down=null
    local clone_s=null clone_rss=null down_s=null restore_s=null
    if [[ $label != http ]]; then
        measure "$logs" "$label-push" "$modvault" push "$url" --json
        push_s=$M_SECS push_rss=$M_RSS_KIB
    else
        # A static host is filled by copying the repository folder (what push writes, plus its manifest).
        MODVAULT_REPO=$repo "$modvault" push "$repo-as-disk" -q >/dev/null
        rm -rf "$MODVAULT_TEST_HTTP_ROOT/speed" && cp -a "$repo-as-disk" "$MODVAULT_TEST_HTTP_ROOT/speed"
    fi
    if [[ -n $rc ]]; then
        measure "$logs" "$label-rclone-up" rclone copy --exclude 'cache/**' --exclude 'locks/**' "$repo" "$rc/rclone-up"
        up_s=$M_SECS
    fi
    if [[ -n $rr ]]; then
        RESTIC_PASSWORD=bench restic -r "$rr" init -q >/dev/null
        measure "$logs" "$label-restic-backup" env RESTIC_PASSWORD=bench restic -r "$rr" backup -q "$src"
        backup_s=$M_SECS
    fi
    set_aside "$work/$label-mirror" "$work/$label-clone" "$work/$label-down" "$work/$label-restore"
    measure "$logs" "$label-mirror" env -u MODVAULT_REPO "$modvault" mirror "$url" latest --target "$work/$label-mirror" --json
    mirror_s=$M_SECS mirror_rss=$M_RSS_KIB
    mirror_down=$(json_field "$logs/$label-mirror.out" bytes_downloaded)
    verify_same "$src" "$work/$label-mirror" "$work/$label-mirror-check"
    measure "$logs" "$label-clone" env MODVAULT_REPO="$work/$label-clone" "$modvault" clone "$url" --json
    clone_s=$M_SECS clone_rss=$M_RSS_KIB
    if [[ -n $rc ]]; then
        measure "$logs" "$label-rclone-down" rclone copy "$rc/rclone-up" "$work/$label-down"
        down_s=$M_SECS
    fi
    if [[ -n $rr ]]; then
        measure "$logs" "$label-restic-restore" env RESTIC_PASSWORD=bench restic -r "$rr" restore latest -q --target "$work/$label-restore"
        restore_s=$M_SECS
    fi
    set_aside "$work/$label-mirror" "$work/$label-clone" "$work/$label-down" "$work/$label-restore"
    speed_rows+=("$label $push_s $up_s $backup_s $mirror_s $clone_s $down_s $restore_s $push_rss $mirror_rss $clone_rss $mirror_down")
}

speed_part() {
    make_corpus "${BENCH_DIR:-$BENCH_HOME/work}" "$scale"
    src=$work/speed-src
    set_aside "$src" && cp -a "$CORPUS_BASE" "$src"
    local repo=$work/speed-repo
    MODVAULT_REPO=$repo "$modvault" init -q >/dev/null
    MODVAULT_REPO=$repo "$modvault" snapshot "$src" -q >/dev/null
    repo_size=$(du_bytes "$repo")
    src_size=$(file_bytes "$src")
    export MODVAULT_REPO=$repo
    local keys="access_key_id=$AWS_ACCESS_KEY_ID,secret_access_key=$AWS_SECRET_ACCESS_KEY"
    local run=$RANDOM
    for server in ${servers_list//,/ }; do
        case "$server" in
            s3) speed_one s3 "s3://modvault-test/speed-$run?endpoint=$MODVAULT_TEST_S3_ENDPOINT" \
                    ":s3,provider=Other,$keys,endpoint='$MODVAULT_TEST_S3_ENDPOINT':modvault-test/speed-$run" \
                    "s3:$MODVAULT_TEST_S3_ENDPOINT/modvault-test/restic-$run" ;;
            moto) speed_one moto "s3://modvault-test/speed-$run?endpoint=$MODVAULT_TEST_MOTO_ENDPOINT" \
                    ":s3,provider=Other,$keys,endpoint='$MODVAULT_TEST_MOTO_ENDPOINT':modvault-test/speed-$run" \
                    "s3:$MODVAULT_TEST_MOTO_ENDPOINT/modvault-test/restic-$run" ;;
            pocketbase)
                local pb="pocketbase+$MODVAULT_TEST_POCKETBASE/speed$run"
                "$modvault" remote init "$pb" >/dev/null
                speed_one pocketbase "$pb" "" "" ;;
            http) speed_one http "$MODVAULT_TEST_HTTP/speed" "" "" ;;
            *) die "unknown server $server" ;;
        esac
    done
    unset MODVAULT_REPO
    printf '\nTransfer speed, corpus %s (%s bytes of files, repository %s bytes), seconds (ratio to modvault)\n' "$scale" "$src_size" "$repo_size"
    printf '%-11s %8s %9s %14s %8s %8s %15s %16s %9s %9s %9s\n' server push rclone_up restic_backup mirror clone rclone_down restic_restore push_MiB mirror_MiB clone_MiB
    local json=()
    for row in "${speed_rows[@]}"; do
        read -r label ps us bs ms cs ds rs prss mrss crss mdown <<<"$row"
        printf '%-11s %8s %9s %14s %8s %8s %15s %16s %9s %9s %9s\n' "$label" "$ps" "$us($(ratio "$us" "$ps"))" \
            "$bs($(ratio "$bs" "$ps"))" "$ms" "$cs" "$ds($(ratio "$ds" "$ms"))" "$rs($(ratio "$rs" "$ms"))" \
            "$(kib_to_mib "$prss")" "$(kib_to_mib "$mrss")" "$(kib_to_mib "$crss")"
        json+=("\"$label\": {\"push_s\": $(json_num "$ps"), \"rclone_up_s\": $(json_num "$us"), \"restic_backup_s\": $(json_num "$bs"), \"mirror_s\": $(json_num "$ms"), \"clone_s\": $(json_num "$cs"), \"rclone_down_s\": $(json_num "$ds"), \"restic_restore_s\": $(json_num "$rs"), \"push_rss_kib\": $(json_num "$prss"), \"mirror_rss_kib\": $(json_num "$mrss"), \"clone_rss_kib\": $(json_num "$crss"), \"mirror_downloaded\": $(json_num "$mdown")}")
    done
    (IFS=,; printf '{"scale": "%s", "source_bytes": %s, "repository_bytes": %s, %s, "machine": %s}\n' "$scale" "$src_size" "$repo_size" "${json[*]}" "$(machine_json)") >"$work/speed.json"
    log "wrote $work/speed.json"
}

if [[ $part == bytes || $part == all ]]; then bytes_part; fi
if [[ $part == speed || $part == all ]]; then speed_part; fi
[[ $part == speed ]] || log "wrote $out"
