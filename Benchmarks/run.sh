#!/usr/bin/env bash
# ModVault against restic and borg on the same corpus, same source path, warm cache, one run.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: Benchmarks/run.sh [--scale SIZE] [--out FILE] [options]

Builds modvault, modvault-fixtures and modvault-bench in release, generates the corpus
(modvault-fixtures --scale SIZE DIR/base, and --next DIR/next), then for each tool, with a
fresh repository and cache, measures once on a warm page cache:
  1. first snapshot of base             wall time, MB/s
  2. re-snapshot of the unchanged base  wall time
  3. snapshot of next (copied over the same source folder)  wall time, repository growth
  4. restore of the base snapshot into an empty folder      MB/s, checked with diff -r
  5. repository size after step 1 (du -sb)
  6. peak RSS of each of those commands
  7. chunker MB/s (ModVault only: modvault-bench chunker)
and prints a table (with modvault/restic and modvault/borg ratios) and writes it as JSON.

Options:
  --scale SIZE       corpus size passed to modvault-fixtures (default 1G)
  --out FILE         JSON results (default WORK/results-SIZE.json)
  --tools LIST       comma-separated subset of modvault,restic,borg (default all three)
  --base DIR --next DIR
                     use these folders as the corpus instead of modvault-fixtures
  --chunker-mib N    buffer for the chunker figure (default 512)
  --no-build         use the binaries of an earlier release build
  --no-verify-next   skip restoring and checking the next snapshot (untimed extra check)
  -h, --help         this text

Restored folders are kept until the run ends (see set_aside in lib.sh), so the disk needs room for
two per tool (one with --no-verify-next) on top of the corpus, the source copy and the repositories.

Environment: BENCH_DIR  work folder (default Benchmarks/work, gitignored). Each tool gets
WORK/run/TOOL/{repo,cache,logs}; the source folder is WORK/run/src for every tool.
MB is 10^6 bytes; sizes in the table are binary (KiB, MiB, GiB).
EOF
}

scale=1G
out=""
tools_arg=modvault,restic,borg
base_dir=""
next_dir=""
chunker_mib=512
do_build=1
verify_next=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        --tools) tools_arg=${2:?}; shift ;;
        --base) base_dir=${2:?}; shift ;;
        --next) next_dir=${2:?}; shift ;;
        --chunker-mib) chunker_mib=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        --no-verify-next) verify_next=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
trap empty_trash EXIT  # restores are set aside during the run (lib.sh, set_aside) and deleted here

IFS=, read -r -a TOOLS <<<"$tools_arg"
for t in "${TOOLS[@]}"; do
    case "$t" in
        modvault | restic | borg) ;;
        *) die "unknown tool: $t" ;;
    esac
done
has_tool() { [[ ",$tools_arg," == *",$1,"* ]]; }
[[ -n $base_dir && -n $next_dir || -z $base_dir && -z $next_dir ]] || die "--base and --next go together"

[[ -z $base_dir ]] || scale=custom
WORK=${BENCH_DIR:-$BENCH_HOME/work}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
[[ -n $out ]] || out=$WORK/results-$scale.json
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

command -v /usr/bin/time >/dev/null || die "/usr/bin/time missing: run scripts/setup.sh"
command -v rsync >/dev/null || die "rsync missing: run scripts/setup.sh"
for t in restic borg; do
    if has_tool "$t"; then command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh"; fi
done

# ---- build and corpus --------------------------------------------------------------------------
need_fixtures=0
[[ -n $base_dir ]] || need_fixtures=1
if has_tool modvault || ((need_fixtures)); then
    if ((do_build)); then build_modvault; else find_modvault; fi
fi
if has_tool modvault; then
    if ((do_build)); then build_bench; else find_bench; fi
fi
if ((need_fixtures)); then
    make_corpus "$WORK" "$scale"
else
    CORPUS_BASE=$(cd "$base_dir" && pwd -P)
    CORPUS_NEXT=$(cd "$next_dir" && pwd -P)
fi
base_bytes=$(file_bytes "$CORPUS_BASE")
base_files=$(file_count "$CORPUS_BASE")
next_bytes=$(file_bytes "$CORPUS_NEXT")
next_files=$(file_count "$CORPUS_NEXT")
log "corpus: base $base_files files $(human_bytes "$base_bytes"), next $next_files files $(human_bytes "$next_bytes")"

RUN=$WORK/run
SRC_REL=src
SRC=$RUN/$SRC_REL
mkdir -p "$RUN"
cd "$RUN"
PASSWORD=modvault-bench-password
PASSWORD_FILE=$RUN/password
printf '%s\n' "$PASSWORD" >"$PASSWORD_FILE"
chmod 600 "$PASSWORD_FILE"

# ---- the tools -----------------------------------------------------------------------------------
# Each tool_* function works in the current folder ($RUN), on ./src, with the repository in $TDIR.

declare -A R=()   # R[tool.metric] = value

tool_env() {
    local tool=$1
    export XDG_CACHE_HOME=$TDIR/xdg-cache XDG_CONFIG_HOME=$TDIR/xdg-config
    case "$tool" in
        modvault)
            export MODVAULT_REPO=$TDIR/repo MODVAULT_PASSWORD_FILE=$PASSWORD_FILE
            export MODVAULT_CACHE_DIR=$TDIR/cache
            ;;
        restic) export RESTIC_PASSWORD=$PASSWORD ;;
        borg)
            export BORG_PASSPHRASE=$PASSWORD
            export BORG_BASE_DIR=$TDIR/cache BORG_CACHE_DIR=$TDIR/cache/cache
            export BORG_CONFIG_DIR=$TDIR/cache/config BORG_SECURITY_DIR=$TDIR/cache/security
            export BORG_KEYS_DIR=$TDIR/cache/keys
            ;;
    esac
}

tool_init() {
    case "$1" in
        modvault) measure "$TDIR/logs" init "$MODVAULT_BIN" init ;;
        restic) measure "$TDIR/logs" init restic -r "$TDIR/repo" --cache-dir "$TDIR/cache" init ;;
        borg) measure "$TDIR/logs" init borg init -e repokey "$TDIR/repo" ;;
    esac
}

# tool_snapshot TOOL LABEL NAME: measures one snapshot of ./src; sets SNAP_ID.
SNAP_ID=""
tool_snapshot() {
    local tool=$1 label=$2 name=$3 logs=$TDIR/logs
    case "$tool" in
        modvault)
            measure "$logs" "$label" "$MODVAULT_BIN" snapshot "$SRC_REL" --tag "$name" --json
            SNAP_ID=$(tail -n 1 "$logs/$label.out" | json_field /dev/stdin snapshot)
            ;;
        restic)
            measure "$logs" "$label" restic -r "$TDIR/repo" --cache-dir "$TDIR/cache" \
                backup --json --tag "$name" "$SRC_REL"
            SNAP_ID=$(json_field "$logs/$label.out" snapshot_id)
            ;;
        borg)
            measure "$logs" "$label" borg create --compression lz4 "$TDIR/repo::$name" "$SRC_REL"
            SNAP_ID=$name
            ;;
    esac
    [[ -n $SNAP_ID ]] || die "$tool $label: no snapshot id in $logs/$label.out"
}

# tool_restore TOOL LABEL ID TARGET
tool_restore() {
    local tool=$1 label=$2 id=$3 target=$4 logs=$TDIR/logs
    set_aside "$target"
    mkdir -p "$target"
    case "$tool" in
        modvault) measure "$logs" "$label" "$MODVAULT_BIN" restore "$id" --target "$target" ;;
        restic)
            measure "$logs" "$label" restic -r "$TDIR/repo" --cache-dir "$TDIR/cache" \
                restore "$id" --target "$target"
            ;;
        borg)
            # borg extracts into the current folder.
            # shellcheck disable=SC2016 # expanded by the inner bash
            measure "$logs" "$label" bash -c 'cd "$1" && exec borg extract "$2"' _ "$target" "$TDIR/repo::$id"
            ;;
    esac
}

bench_tool() {
    local tool=$1 base_id next_id before after
    TDIR=$RUN/$tool
    set_aside "$TDIR"
    mkdir -p "$TDIR/cache" "$TDIR/logs"
    log "== $tool"
    tool_env "$tool"

    sync_source "$CORPUS_BASE" "$SRC"
    warm_cache "$SRC"
    tool_init "$tool"

    tool_snapshot "$tool" snapshot-base base
    base_id=$SNAP_ID
    R[$tool.first_snapshot_s]=$M_SECS
    R[$tool.first_snapshot_mb_s]=$(mbps "$base_bytes" "$M_SECS")
    R[$tool.rss_first_snapshot_mib]=$(kib_to_mib "$M_RSS_KIB")
    R[$tool.repo_bytes_after_base]=$(repo_bytes "$TDIR/repo")
    R[$tool.local_cache_bytes_after_base]=$(cache_bytes "$TDIR/repo/cache" "$TDIR/cache" "$TDIR/xdg-cache")

    tool_snapshot "$tool" snapshot-again base-again
    R[$tool.resnapshot_s]=$M_SECS
    R[$tool.rss_resnapshot_mib]=$(kib_to_mib "$M_RSS_KIB")

    before=$(repo_bytes "$TDIR/repo")
    sync_source "$CORPUS_NEXT" "$SRC"
    warm_cache "$SRC"
    tool_snapshot "$tool" snapshot-next next
    next_id=$SNAP_ID
    R[$tool.next_snapshot_s]=$M_SECS
    R[$tool.rss_next_snapshot_mib]=$(kib_to_mib "$M_RSS_KIB")
    after=$(repo_bytes "$TDIR/repo")
    R[$tool.repo_bytes_after_next]=$after
    R[$tool.next_growth_bytes]=$((after - before))

    tool_restore "$tool" restore-base "$base_id" "$TDIR/restore"
    R[$tool.restore_s]=$M_SECS
    R[$tool.restore_mb_s]=$(mbps "$base_bytes" "$M_SECS")
    R[$tool.rss_restore_mib]=$(kib_to_mib "$M_RSS_KIB")
    verify_same "$CORPUS_BASE" "$(find_restored "$TDIR/restore" "$SRC_REL")" "$TDIR/logs/restore-base"
    set_aside "$TDIR/restore"
    log "  restore of base is identical"

    if ((verify_next)); then
        tool_restore "$tool" restore-next "$next_id" "$TDIR/restore"
        verify_same "$CORPUS_NEXT" "$(find_restored "$TDIR/restore" "$SRC_REL")" "$TDIR/logs/restore-next"
        set_aside "$TDIR/restore"
        log "  restore of next is identical"
    fi
    log "  first ${R[$tool.first_snapshot_s]}s, again ${R[$tool.resnapshot_s]}s, next ${R[$tool.next_snapshot_s]}s, restore ${R[$tool.restore_s]}s"
}

for t in "${TOOLS[@]}"; do
    bench_tool "$t"
done

if has_tool modvault; then
    log "== chunker ($chunker_mib MiB, one core)"
    "$BENCH_BIN" chunker --mib "$chunker_mib" --json >"$RUN/modvault/logs/chunker.out" ||
        die "modvault-bench chunker failed"
    R[modvault.chunker_mb_s]=$(json_field "$RUN/modvault/logs/chunker.out" mb_per_s)
    R[modvault.chunker_chunks]=$(json_field "$RUN/modvault/logs/chunker.out" chunks)
fi

# ---- report --------------------------------------------------------------------------------------
# metric|label|format|better
ROWS=(
    "first_snapshot_s|1. first snapshot of base|s|lower"
    "first_snapshot_mb_s|1. first snapshot throughput|mbps|higher"
    "resnapshot_s|2. re-snapshot, unchanged|s|lower"
    "next_snapshot_s|3. snapshot of next|s|lower"
    "next_growth_bytes|3. repository growth from next|bytes|lower"
    "restore_s|4. restore of base|s|lower"
    "restore_mb_s|4. restore throughput|mbps|higher"
    "repo_bytes_after_base|5. repository size after base|bytes|lower"
    "local_cache_bytes_after_base|5. local cache after base|bytes|lower"
    "rss_first_snapshot_mib|6. peak RSS, first snapshot|mib|lower"
    "rss_resnapshot_mib|6. peak RSS, re-snapshot|mib|lower"
    "rss_next_snapshot_mib|6. peak RSS, next snapshot|mib|lower"
    "rss_restore_mib|6. peak RSS, restore|mib|lower"
    "chunker_mb_s|7. chunker throughput, 1 core|mbps|higher"
)

fmt_value() {
    local v=$1 f=$2
    if [[ -z $v || $v == null ]]; then echo "-"; return; fi
    case "$f" in
        s) printf '%.2f s' "$v" ;;
        mbps) printf '%.1f MB/s' "$v" ;;
        bytes) human_bytes "$v" ;;
        mib) printf '%.0f MiB' "$v" ;;
    esac
}

get() { local k=$1.$2; echo "${R[$k]:-null}"; }

{
    printf '\nModVault benchmark: corpus %s (base %s in %s files, next %s in %s files), %s cores, warm cache\n\n' \
        "$scale" "$(human_bytes "$base_bytes")" "$base_files" "$(human_bytes "$next_bytes")" "$next_files" "$(nproc)"
    printf '%-34s %12s %12s %12s %9s %9s  %s\n' metric modvault restic borg mv/restic mv/borg better
    printf '%s\n' "$(printf '%.0s-' {1..106})"
    for row in "${ROWS[@]}"; do
        IFS='|' read -r key label fmt better <<<"$row"
        mv=$(get modvault "$key")
        rs=$(get restic "$key")
        bg=$(get borg "$key")
        r1=$(ratio "$mv" "$rs")
        r2=$(ratio "$mv" "$bg")
        [[ $r1 == null ]] && r1=-
        [[ $r2 == null ]] && r2=-
        printf '%-34s %12s %12s %12s %9s %9s  %s\n' "$label" "$(fmt_value "$mv" "$fmt")" \
            "$(fmt_value "$rs" "$fmt")" "$(fmt_value "$bg" "$fmt")" "$r1" "$r2" "$better"
    done
    printf '\nratios are modvault/other: below 1 is better for "lower" rows, above 1 for "higher" rows\n'
}

# ---- JSON ----------------------------------------------------------------------------------------
mv_version=null
if has_tool modvault; then mv_version=$(json_str "$(modvault_version)"); fi
rs_version=null
if has_tool restic; then rs_version=$(json_str "$(restic_version)"); fi
bg_version=null
if has_tool borg; then bg_version=$(json_str "$(borg_version)"); fi

mkdir -p "$(dirname "$out")"
{
    printf '{\n'
    printf '  "benchmark": "modvault-vs-restic-borg",\n'
    printf '  "date": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
    printf '  "scale": %s,\n' "$(json_str "$scale")"
    printf '  "corpus": {"base": %s, "next": %s, "base_bytes": %s, "base_files": %s, "next_bytes": %s, "next_files": %s},\n' \
        "$(json_str "$CORPUS_BASE")" "$(json_str "$CORPUS_NEXT")" "$base_bytes" "$base_files" "$next_bytes" "$next_files"
    printf '  "machine": %s,\n' "$(machine_json)"
    printf '  "versions": {"modvault": %s, "restic": %s, "borg": %s, "swift": %s},\n' \
        "$mv_version" "$rs_version" "$bg_version" "$(json_str "$(swift_version)")"
    printf '  "settings": {"restic": "defaults", "borg": "init -e repokey, create --compression lz4", "modvault": "defaults", "cache": "warm", "mb": 1000000},\n'
    printf '  "tools": {'
    sep=""
    for t in "${TOOLS[@]}"; do
        printf '%s\n    "%s": {' "$sep" "$t"
        isep=""
        while IFS= read -r k; do
            [[ $k == "$t".* ]] || continue
            printf '%s"%s": %s' "$isep" "${k#"$t".}" "$(json_num "${R[$k]}")"
            isep=", "
        done < <(printf '%s\n' "${!R[@]}" | sort)
        printf '}'
        sep=","
    done
    printf '\n  },\n'
    printf '  "rows": ['
    sep=""
    for row in "${ROWS[@]}"; do
        IFS='|' read -r key label fmt better <<<"$row"
        mv=$(get modvault "$key")
        rs=$(get restic "$key")
        bg=$(get borg "$key")
        printf '%s\n    {"metric": "%s", "label": %s, "better": "%s", "modvault": %s, "restic": %s, "borg": %s, "modvault_over_restic": %s, "modvault_over_borg": %s}' \
            "$sep" "$key" "$(json_str "$label")" "$better" "$(json_num "$mv")" "$(json_num "$rs")" \
            "$(json_num "$bg")" "$(ratio "$mv" "$rs")" "$(ratio "$mv" "$bg")"
        sep=","
    done
    printf '\n  ]\n}\n'
} >"$out"
log "results written to $out"
