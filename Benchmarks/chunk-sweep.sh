#!/usr/bin/env bash
# Chunk-size sweep for ModVault: dedup against metadata cost, to choose the default sizes.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: Benchmarks/chunk-sweep.sh [--scale SIZE] [--out FILE] [--settings LIST] [options]

For each MIN/AVG/MAX setting, a fresh repository made with
  modvault init --chunk-min MIN --chunk-avg AVG --chunk-max MAX     (sizes passed in bytes)
then a snapshot of the base corpus and one of the next version (copied over the same source
folder). Reports per setting: snapshot times, repository size after base, growth from next,
blob count (`modvault stats --json`, key "blobs") and index size (du -sb REPO/index).

Options:
  --scale SIZE      corpus size for modvault-fixtures (default 1G)
  --out FILE        JSON results (default WORK/chunk-sweep-SIZE.json)
  --settings LIST   comma-separated MIN/AVG/MAX with K/M suffixes
                    (default 64K/256K/1M,128K/512K/2M,256K/1M/4M,512K/2M/8M)
  --base DIR --next DIR   use these folders as the corpus instead of modvault-fixtures
  --no-build        use the binaries of an earlier release build
  -h, --help        this text

Environment: BENCH_DIR  work folder (default Benchmarks/work, gitignored).
EOF_USAGE
}

scale=1G
out=""
settings=64K/256K/1M,128K/512K/2M,256K/1M/4M,512K/2M/8M
base_dir=""
next_dir=""
do_build=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        --settings) settings=${2:?}; shift ;;
        --base) base_dir=${2:?}; shift ;;
        --next) next_dir=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ -n $base_dir && -n $next_dir || -z $base_dir && -z $next_dir ]] || die "--base and --next go together"

IFS=, read -r -a SETTINGS <<<"$settings"
for s in "${SETTINGS[@]}"; do
    [[ $s =~ ^[0-9]+[KkMm]?/[0-9]+[KkMm]?/[0-9]+[KkMm]?$ ]] || die "not MIN/AVG/MAX: $s"
done

[[ -z $base_dir ]] || scale=custom
WORK=${BENCH_DIR:-$BENCH_HOME/work}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
[[ -n $out ]] || out=$WORK/chunk-sweep-$scale.json
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

sweep_prepare "$WORK" "$scale" "$base_dir" "$next_dir" "$do_build"
SWEEP=$WORK/chunk-sweep
mkdir -p "$SWEEP"

for s in "${SETTINGS[@]}"; do
    IFS=/ read -r min avg max <<<"$s"
    sweep_one "$SWEEP" "$s" 0 --chunk-min "$(to_bytes "$min")" --chunk-avg "$(to_bytes "$avg")" \
        --chunk-max "$(to_bytes "$max")"
done

v() { local k=$1.$2; echo "${S[$k]:-null}"; }
h() { if [[ $1 == null ]]; then echo -; else human_bytes "$1"; fi; }
n() { if [[ $1 == null ]]; then echo -; else echo "$1"; fi; }
printf '\nChunk-size sweep: corpus %s (base %s), lower is better in every size column\n\n' \
    "$SWEEP_SCALE" "$(human_bytes "$SWEEP_BASE_BYTES")"
printf '%-16s %9s %9s %12s %12s %10s %10s %11s %11s\n' min/avg/max base_s next_s repo_base growth_next \
    blobs_base blobs_next index_base index_next
for s in "${SETTINGS[@]}"; do
    printf '%-16s %9s %9s %12s %12s %10s %10s %11s %11s\n' "$s" \
        "$(n "$(v "$s" base_snapshot_s)")" "$(n "$(v "$s" next_snapshot_s)")" \
        "$(h "$(v "$s" repo_bytes_after_base)")" "$(h "$(v "$s" next_growth_bytes)")" \
        "$(n "$(v "$s" blobs_after_base)")" "$(n "$(v "$s" blobs_after_next)")" \
        "$(h "$(v "$s" index_bytes_after_base)")" "$(h "$(v "$s" index_bytes_after_next)")"
done
sweep_json "$out" chunk-sweep "${SETTINGS[@]}"
