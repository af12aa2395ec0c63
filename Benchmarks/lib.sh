# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables set here are read by the scripts that source it
# Shared helpers for run.sh, chunk-sweep.sh and codec-sweep.sh. Source it; it does nothing alone.
# Callers set `set -euo pipefail` before sourcing.

# Decimal points in printf and awk, whatever the user's locale.
export LC_ALL=C

BENCH_HOME=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_HOME/.." && pwd)

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# ---- sizes and numbers ---------------------------------------------------------------------

# to_bytes 64K|1M|2G|12345 -> bytes (binary multiples)
to_bytes() {
    local v=$1 n unit
    [[ $v =~ ^([0-9]+)([KkMmGg]?)(i?[Bb])?$ ]] || die "not a size: $v"
    n=${BASH_REMATCH[1]}
    unit=${BASH_REMATCH[2]^^}
    case "$unit" in
        K) echo $((n << 10)) ;;
        M) echo $((n << 20)) ;;
        G) echo $((n << 30)) ;;
        *) echo "$n" ;;
    esac
}

# Sum of the sizes of the regular files under a folder (what the user would call its size).
file_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f\n", s}'; }
file_count() { find "$1" -type f | wc -l | tr -d ' '; }
# On-disk footprint the way the repositories are compared: du -sb.
du_bytes() { du -sb "$1" | cut -f1; }
# repo_bytes REPO: du -sb of a repository without a local-only cache folder inside it
# (ModVault keeps its SQLite index in REPO/cache, never copied to a remote; restic and borg keep
# theirs outside the repository, so this compares like with like).
repo_bytes() {
    local total cache=0
    total=$(du_bytes "$1")
    [[ ! -d $1/cache ]] || cache=$(du_bytes "$1/cache")
    echo $((total - cache))
}
# cache_bytes DIR...: du -sb of the folders that exist among DIR..., summed.
cache_bytes() {
    local d sum=0
    for d in "$@"; do [[ ! -d $d ]] || sum=$((sum + $(du_bytes "$d"))); done
    echo "$sum"
}

# mbps BYTES SECONDS -> decimal MB/s (10^6 bytes per second), one decimal
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f\n", b / 1e6 / s; else print "null" }'; }
# ratio A B -> A/B with three decimals, or null when either is missing or B is 0
ratio() {
    awk -v a="${1:-null}" -v b="${2:-null}" 'BEGIN {
        if (a == "null" || b == "null" || a == "" || b == "" || b + 0 == 0) print "null"
        else printf "%.3f\n", a / b }'
}
kib_to_mib() { awk -v k="$1" 'BEGIN { printf "%.1f\n", k / 1024 }'; }
human_bytes() {
    if [[ $1 == null || -z $1 ]]; then echo "-"; else numfmt --to=iec-i --suffix=B --format='%.1f' "$1"; fi
}

# json_field FILE KEY -> value of "KEY" in the last line of FILE that holds it (numbers or strings).
json_field() {
    local file=$1 key=$2
    grep -o "\"$key\"[[:space:]]*:[[:space:]]*\(\"[^\"]*\"\|-\?[0-9.eE+-]\+\)" "$file" | tail -1 |
        sed -e 's/^[^:]*:[[:space:]]*//' -e 's/^"//' -e 's/"$//'
}

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\n'/ }
    printf '"%s"' "$s"
}
# A number as JSON, or null.
json_num() { if [[ -z ${1:-} || $1 == null || $1 == - ]]; then printf 'null'; else printf '%s' "$1"; fi; }

# ---- building --------------------------------------------------------------------------------

# MODVAULT_BIN and FIXTURES_BIN may be set in the environment to measure other builds.
MODVAULT_BIN=${MODVAULT_BIN:-}
FIXTURES_BIN=${FIXTURES_BIN:-}
BENCH_BIN=""

build_modvault() {
    log "release build of modvault and modvault-fixtures"
    (cd "$REPO_ROOT" && swift build -c release --product modvault >&2 &&
        swift build -c release --product modvault-fixtures >&2) || die "release build failed"
    find_modvault
}

# Locates the binaries of the release build (or those named in the environment).
find_modvault() {
    local bin
    bin=$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)
    [[ -n $MODVAULT_BIN ]] || MODVAULT_BIN=$bin/modvault
    [[ -n $FIXTURES_BIN ]] || FIXTURES_BIN=$bin/modvault-fixtures
    [[ -x $MODVAULT_BIN ]] || die "$MODVAULT_BIN not built (drop --no-build)"
}

build_bench() {
    log "release build of modvault-bench (Benchmarks/.build)"
    swift build -c release --package-path "$BENCH_HOME" >&2 || die "modvault-bench build failed"
    BENCH_BIN=$(swift build -c release --package-path "$BENCH_HOME" --show-bin-path)/modvault-bench
}

find_bench() {
    BENCH_BIN=$(swift build -c release --package-path "$BENCH_HOME" --show-bin-path)/modvault-bench
    [[ -x $BENCH_BIN ]] || die "$BENCH_BIN not built (drop --no-build)"
}

# ---- corpus ------------------------------------------------------------------------------------

CORPUS_BASE=""
CORPUS_NEXT=""

# make_corpus WORK SCALE: WORK/corpus/SCALE/{base,next} from modvault-fixtures, reused while the
# fixtures binary is unchanged.
make_corpus() {
    local work=$1 scale=$2 dir stamp want
    dir=$work/corpus/$scale
    stamp=$dir/.stamp
    [[ -x $FIXTURES_BIN ]] || die "modvault-fixtures not built: $FIXTURES_BIN"
    want="$scale $(sha256sum "$FIXTURES_BIN" | cut -c1-16)"
    if [[ -f $stamp && $(cat "$stamp") == "$want" && -d $dir/base && -d $dir/next ]]; then
        log "corpus $scale reused from $dir"
    else
        log "generating corpus $scale in $dir"
        rm -rf "$dir"
        mkdir -p "$dir"
        "$FIXTURES_BIN" --scale "$scale" "$dir/base" >&2 || die "modvault-fixtures (base) failed"
        "$FIXTURES_BIN" --scale "$scale" --next "$dir/next" >&2 || die "modvault-fixtures (next) failed"
        printf '%s\n' "$want" >"$stamp"
    fi
    CORPUS_BASE=$dir/base
    CORPUS_NEXT=$dir/next
}

# in_list X ITEMS...: whether X is one of ITEMS.
in_list() { local x=$1; shift; local y; for y in "$@"; do [[ $x == "$y" ]] && return 0; done; return 1; }

# fixture_tree CORPUS SCALE NAME [ARGS...]: CORPUS/NAME and its summary CORPUS/NAME.json, made by
# modvault-fixtures --scale SCALE ARGS, and reused while the binary and the arguments are unchanged.
fixture_tree() {
    local corpus=$1 scale=$2 name=$3 dir=$1/$3 stamp
    shift 3
    stamp="$scale $(sha256sum "$FIXTURES_BIN" | cut -c1-16) $*"
    mkdir -p "$corpus"
    if [[ -f $dir.stamp && $(cat "$dir.stamp") == "$stamp" && -d $dir && -s $dir.json ]]; then
        log "tree $name reused"
    else
        log "generating tree $name ($scale)"
        rm -rf "$dir" "$dir.stamp"
        "$FIXTURES_BIN" --scale "$scale" "$@" "$dir" >"$dir.json" || die "modvault-fixtures failed for $name"
        printf '%s\n' "$stamp" >"$dir.stamp"
    fi
}

# sync_source FROM TO: make TO's content an exact copy of FROM's, the way a mod manager updates
# a Data folder: files with the same content are not touched at all (same inode, same times),
# changed and new files are written anew with the current time, missing files are deleted.
sync_source() {
    mkdir -p "$2"
    rsync -a --no-times --checksum --delete "$1/" "$2/"
}

# Pull a folder into the page cache: every figure is a warm-cache figure.
warm_cache() { find "$1" -type f -print0 | xargs -0 -r cat >/dev/null; }

# ---- removing trees --------------------------------------------------------------------------

# Trees a run no longer needs are set aside (renamed into a trash folder) and deleted when the run
# ends (`empty_trash`, from the script's EXIT trap), not in between. Creating files soon after
# deleting thousands is slow on some disks (here: 1,800 new files took 0.03 s in a quiet folder and
# 1.5 s near a large `rm -rf`; ext4 passes over recently freed inodes when it allocates new ones).
# Restores and mirrors create a file per source file, rclone copy one per pack, so a run's own
# clean-up would weigh on some tools and not on others, and on whichever tool came second.
BENCH_TRASH=${BENCH_DIR:-$BENCH_HOME/work}/.trash-$$
set_aside() {
    local p
    mkdir -p "$BENCH_TRASH"
    for p in "$@"; do
        if [[ -e $p ]]; then mv "$p" "$BENCH_TRASH/$RANDOM-${p##*/}"; fi
    done
}
empty_trash() { rm -rf "$BENCH_TRASH"; }

# ---- measuring -------------------------------------------------------------------------------

# measure LOGDIR LABEL CMD...: runs CMD once, stdout/stderr to LOGDIR/LABEL.{out,err}.
# Sets M_SECS (wall seconds) and M_RSS_KIB (peak resident set, KiB). A failure stops the run.
M_SECS=""
M_RSS_KIB=""
measure() {
    local logdir=$1 label=$2 t0 t1
    shift 2
    mkdir -p "$logdir"
    log "  $label: $*"
    # Flush dirty pages left by earlier steps (corpus generation, other tools' repositories) so no
    # command pays for another's writeback; the page cache itself stays warm.
    sync
    t0=$(date +%s%N)
    if ! /usr/bin/time -f '%M' -o "$logdir/$label.time" "$@" >"$logdir/$label.out" 2>"$logdir/$label.err"; then
        printf '\nerror: %s failed: %s\n--- stderr (tail) ---\n' "$label" "$*" >&2
        tail -n 30 "$logdir/$label.err" >&2
        printf -- '--- stdout (tail) ---\n' >&2
        tail -n 10 "$logdir/$label.out" >&2
        exit 1
    fi
    t1=$(date +%s%N)
    M_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }')
    M_RSS_KIB=$(tail -n 1 "$logdir/$label.time")
    [[ $M_RSS_KIB =~ ^[0-9]+$ ]] || M_RSS_KIB=null
}

# find_restored TARGET SRC_REL: where a restore put the snapshot's root. Tools differ: restic and
# borg recreate the relative path given at backup time (TARGET/src), others restore the
# contents straight into TARGET.
find_restored() {
    local target=$1 rel=$2
    local -a entries
    mapfile -t entries < <(ls -A "$target")
    if ((${#entries[@]} == 1)) && [[ ${entries[0]} == "$rel" && -d $target/$rel ]]; then
        echo "$target/$rel"
    else
        echo "$target"
    fi
}

# verify_same EXPECTED ACTUAL WHAT: byte-for-byte comparison; a difference stops the run.
verify_same() {
    if ! diff -r "$1" "$2" >"$3.diff" 2>&1; then
        printf '\nerror: RESTORE MISMATCH: %s differs from %s\n' "$2" "$1" >&2
        head -n 20 "$3.diff" >&2
        exit 1
    fi
    rm -f "$3.diff"
}

# ---- machine information -------------------------------------------------------------------

machine_json() {
    local cpu mem kernel os
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
    mem=$(awk '/^MemTotal/ { print $2; exit }' /proc/meminfo 2>/dev/null || true)
    kernel=$(uname -r)
    os=$( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null || uname -s)
    printf '{"nproc": %s, "cpu": %s, "mem_total_kib": %s, "kernel": %s, "os": %s}' \
        "$(nproc)" "$(json_str "${cpu:-unknown}")" "$(json_num "${mem:-}")" \
        "$(json_str "$kernel")" "$(json_str "$os")"
}

modvault_version() {
    local v
    v=$("$MODVAULT_BIN" --version 2>/dev/null | head -n 1 || true)
    [[ -n $v ]] || v=unknown
    local commit
    commit=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
    if [[ -n $(git -C "$REPO_ROOT" status --porcelain -- Sources Package.swift 2>/dev/null) ]]; then
        commit="$commit+dirty"
    fi
    echo "$v (git $commit)"
}
restic_version() { restic version 2>/dev/null | head -n 1 || echo unknown; }
borg_version() { borg --version 2>/dev/null | head -n 1 || echo unknown; }
swift_version() { swift --version 2>/dev/null | grep -m1 -o 'Swift version [^ ]*' || echo unknown; }

# ---- ModVault-only sweeps ------------------------------------------------------------------------

declare -A S=()   # S[label.metric] = value, filled by sweep_one

# sweep_one WORKDIR LABEL RESTORE(0|1) INIT_ARGS...: a fresh ModVault repository made with
# `modvault init INIT_ARGS...`, then a snapshot of base and one of next from WORKDIR/src (it
# changes the current folder to WORKDIR), with
# sizes, blob count and index size after each; RESTORE=1 also times a verified restore of base.
sweep_one() {
    local work=$1 label=$2 restore=$3
    shift 3
    local tdir=$work/$label src_rel=src logs before after id
    logs=$tdir/logs
    rm -rf "$tdir"
    mkdir -p "$tdir/cache" "$logs"
    export MODVAULT_REPO=$tdir/repo MODVAULT_CACHE_DIR=$tdir/cache
    export MODVAULT_PASSWORD_FILE=$work/password
    export XDG_CACHE_HOME=$tdir/xdg-cache XDG_CONFIG_HOME=$tdir/xdg-config
    printf 'modvault-bench-password\n' >"$MODVAULT_PASSWORD_FILE"
    log "== $label: modvault init $*"
    # Snapshots name the source by a relative path, the same for every setting.
    cd "$work" || die "cannot enter $work"
    sync_source "$CORPUS_BASE" "$src_rel"
    warm_cache "$src_rel"
    measure "$logs" init "$MODVAULT_BIN" init "$@"

    measure "$logs" snapshot-base "$MODVAULT_BIN" snapshot "$src_rel" --tag base --json
    id=$(tail -n 1 "$logs/snapshot-base.out" | json_field /dev/stdin snapshot)
    S[$label.base_snapshot_s]=$M_SECS
    S[$label.base_snapshot_mb_s]=$(mbps "$SWEEP_BASE_BYTES" "$M_SECS")
    S[$label.rss_base_snapshot_mib]=$(kib_to_mib "$M_RSS_KIB")
    before=$(repo_bytes "$MODVAULT_REPO")
    S[$label.repo_bytes_after_base]=$before
    sweep_stats "$label" after_base "$logs"

    sync_source "$CORPUS_NEXT" "$src_rel"
    warm_cache "$src_rel"
    measure "$logs" snapshot-next "$MODVAULT_BIN" snapshot "$src_rel" --tag next --json
    S[$label.next_snapshot_s]=$M_SECS
    S[$label.rss_next_snapshot_mib]=$(kib_to_mib "$M_RSS_KIB")
    S[$label.next_bytes_added]=$(tail -n 1 "$logs/snapshot-next.out" | json_field /dev/stdin bytes_added)
    after=$(repo_bytes "$MODVAULT_REPO")
    S[$label.repo_bytes_after_next]=$after
    S[$label.local_cache_bytes_after_next]=$(cache_bytes "$MODVAULT_REPO/cache" "$tdir/cache")
    S[$label.next_growth_bytes]=$((after - before))
    sweep_stats "$label" after_next "$logs"

    if ((restore)); then
        [[ -n $id ]] || die "$label: no snapshot id in $logs/snapshot-base.out"
        rm -rf "$tdir/restore"
        mkdir -p "$tdir/restore"
        measure "$logs" restore-base "$MODVAULT_BIN" restore "$id" --target "$tdir/restore"
        S[$label.restore_s]=$M_SECS
        S[$label.restore_mb_s]=$(mbps "$SWEEP_BASE_BYTES" "$M_SECS")
        S[$label.rss_restore_mib]=$(kib_to_mib "$M_RSS_KIB")
        verify_same "$CORPUS_BASE" "$(find_restored "$tdir/restore" "$src_rel")" "$logs/restore-base"
        rm -rf "$tdir/restore"
        log "  restore of base is identical"
    fi
}

# sweep_stats LABEL WHEN LOGDIR: blob count (modvault stats --json "blobs") and index size.
sweep_stats() {
    local label=$1 when=$2 logs=$3 blobs
    if "$MODVAULT_BIN" stats --json >"$logs/stats-$when.out" 2>"$logs/stats-$when.err"; then
        blobs=$(json_field "$logs/stats-$when.out" blobs)
        S[$label.data_blobs_$when]=$(json_field "$logs/stats-$when.out" data_blobs)
        S[$label.tree_blobs_$when]=$(json_field "$logs/stats-$when.out" tree_blobs)
    else
        log "  modvault stats --json failed (see $logs/stats-$when.err)"
        blobs=""
    fi
    S[$label.blobs_$when]=${blobs:-null}
    if [[ -e $MODVAULT_REPO/index ]]; then
        S[$label.index_bytes_$when]=$(du_bytes "$MODVAULT_REPO/index")
    else
        S[$label.index_bytes_$when]=null
    fi
}

# sweep_json OUT KIND LABELS...: writes S[] for the labels as JSON.
sweep_json() {
    local out=$1 kind=$2 label k sep isep
    shift 2
    mkdir -p "$(dirname "$out")"
    {
        printf '{\n  "benchmark": %s,\n' "$(json_str "$kind")"
        printf '  "date": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
        printf '  "scale": %s,\n' "$(json_str "$SWEEP_SCALE")"
        printf '  "corpus": {"base_bytes": %s, "base_files": %s, "next_bytes": %s, "next_files": %s},\n' \
            "$SWEEP_BASE_BYTES" "$(file_count "$CORPUS_BASE")" "$(file_bytes "$CORPUS_NEXT")" "$(file_count "$CORPUS_NEXT")"
        printf '  "machine": %s,\n' "$(machine_json)"
        printf '  "versions": {"modvault": %s, "swift": %s},\n' "$(json_str "$(modvault_version)")" "$(json_str "$(swift_version)")"
        printf '  "runs": ['
        sep=""
        for label in "$@"; do
            printf '%s\n    {"setting": %s' "$sep" "$(json_str "$label")"
            while IFS= read -r k; do
                [[ $k == "$label".* ]] || continue
                printf ', "%s": %s' "${k#"$label".}" "$(json_num "${S[$k]}")"
            done < <(printf '%s\n' "${!S[@]}" | sort)
            printf '}'
            sep=","
        done
        printf '\n  ]\n}\n'
    } >"$out"
    log "results written to $out"
}

# sweep_prepare WORK SCALE BASE NEXT DO_BUILD: binaries and corpus for a sweep.
SWEEP_SCALE=""
SWEEP_BASE_BYTES=0
sweep_prepare() {
    local work=$1 scale=$2 base=$3 next=$4 build=$5
    if ((build)); then build_modvault; else find_modvault; fi
    if [[ -n $base ]]; then
        CORPUS_BASE=$(cd "$base" && pwd -P)
        CORPUS_NEXT=$(cd "$next" && pwd -P)
        SWEEP_SCALE=custom
    else
        make_corpus "$work" "$scale"
        SWEEP_SCALE=$scale
    fi
    SWEEP_BASE_BYTES=$(file_bytes "$CORPUS_BASE")
    log "corpus: base $(human_bytes "$SWEEP_BASE_BYTES"), next $(human_bytes "$(file_bytes "$CORPUS_NEXT")")"
}
