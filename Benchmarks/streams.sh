#!/usr/bin/env bash
# What storing compressed streams decompressed costs and saves: ModVault with format-awareness off,
# on with the default policy, and on with every stream normalised, on the same corpus in one run.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/streams.sh [--scale SIZE] [--no-build]

For three settings of ModVault on the fixture corpus (base and next, as run.sh generates them):
  plain      snapshot --no-format-aware
  auto       the defaults (format-aware, --normalize auto)
  optimized  the defaults, and `modvault optimize` then `prune` after the first snapshot (timed apart)
  all        format-aware, every snapshot with --normalize all
measures the first snapshot of base, the snapshot of next over it (rsync --checksum, as run.sh),
the repository size and growth, a restore of base and a restore of next (checked with diff -r), and
reports the stream statistics of each snapshot. Warm cache, sync before every timed command.

Options:
  --scale SIZE   corpus size (default 1G)
  --no-build     reuse the release build
  -h, --help     this text
USAGE
}

scale=1G
do_build=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

WORK=${BENCH_DIR:-$BENCH_HOME/work}
if ((do_build)); then build_modvault; else find_modvault; fi
make_corpus "$WORK" "$scale"
base_bytes=$(file_bytes "$CORPUS_BASE")
out=$WORK/streams/$scale
rm -rf "$out"
mkdir -p "$out"
export MODVAULT_PASSWORD=bench

streams_of() { tail -n 1 "$1" | python3 -c 'import json,sys; s=json.load(sys.stdin).get("streams") or {}; print("reused {} normalized {} verbatim {} kept {}".format(s.get("reused",0), s.get("normalized",0), s.get("verbatim",0), s.get("kept",0)))'; }

printf '\n%-9s %10s %10s %10s %10s %12s %12s %10s %10s  %s\n' mode first_s MB/s optim_s next_s growth repo restore_s next_r_s "streams (first | next)"
for mode in plain auto optimized all; do
    dir=$out/$mode
    logs=$dir/logs
    mkdir -p "$dir"
    export MODVAULT_REPO=$dir/repo MODVAULT_CACHE_DIR=$dir/cache
    case $mode in
        plain) flags=(--no-format-aware) ;;
        auto | optimized) flags=() ;;
        all) flags=(--normalize all) ;;
    esac
    sync_source "$CORPUS_BASE" "$dir/src"
    warm_cache "$dir/src"
    measure "$logs" init "$MODVAULT_BIN" init
    measure "$logs" first "$MODVAULT_BIN" snapshot "$dir/src" "${flags[@]}" --json
    first=$M_SECS
    optimize=-
    if [[ $mode == optimized ]]; then
        measure "$logs" optimize "$MODVAULT_BIN" optimize
        optimize=$M_SECS
        measure "$logs" prune "$MODVAULT_BIN" prune
    fi
    size_base=$(repo_bytes "$dir/repo")
    sync_source "$CORPUS_NEXT" "$dir/src"
    warm_cache "$dir/src"
    measure "$logs" next "$MODVAULT_BIN" snapshot "$dir/src" "${flags[@]}" --json
    next=$M_SECS
    size_next=$(repo_bytes "$dir/repo")
    # The base is the next snapshot's parent (after optimize, the replacement of the first one).
    base_id=$("$MODVAULT_BIN" snapshots --json | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin), key=lambda s: s["time"])[0]["id"])')
    measure "$logs" restore "$MODVAULT_BIN" restore "$base_id" --target "$dir/restored-base"
    restore=$M_SECS
    verify_same "$CORPUS_BASE" "$dir/restored-base" "$logs/restore-base"
    measure "$logs" restore-next "$MODVAULT_BIN" restore latest --target "$dir/restored-next"
    restore_next=$M_SECS
    verify_same "$CORPUS_NEXT" "$dir/restored-next" "$logs/restore-next"
    rm -rf "$dir/restored-base" "$dir/restored-next" "$dir/src"
    printf '%-9s %10s %10s %10s %10s %12s %12s %10s %10s  %s | %s\n' "$mode" "$first" "$(mbps "$base_bytes" "$first")" "$optimize" "$next" \
        "$(human_bytes $((size_next - size_base)))" "$(human_bytes "$size_base")" "$restore" "$restore_next" \
        "$(streams_of "$logs/first.out")" "$(streams_of "$logs/next.out")"
done
printf '\nfirst_s: first snapshot of base; optim_s: optimize of it; next_s: snapshot of next over it; growth: from next;\n'
printf 'repo: repository after base; restore_s / next_r_s: restore of base / of next into an empty folder.\n'
