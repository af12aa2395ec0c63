#!/usr/bin/env bash
# Compression sweep for ModVault: snapshot speed against repository size for each codec.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF_USAGE'
Usage: Benchmarks/codec-sweep.sh [--scale SIZE] [--out FILE] [--codecs LIST] [options]

For each codec, a fresh repository made with `modvault init --compression CODEC`, then a
snapshot of the base corpus, one of the next version (copied over the same source folder)
and a restore of base (checked with diff -r). Reports per codec: snapshot time and MB/s,
repository size after base, growth from next, restore MB/s and peak RSS.

Options:
  --scale SIZE     corpus size for modvault-fixtures (default 1G)
  --out FILE       JSON results (default WORK/codec-sweep-SIZE.json)
  --codecs LIST    comma-separated (default none,lz4,zstd,zlib)
  --base DIR --next DIR   use these folders as the corpus instead of modvault-fixtures
  --no-build       use the binaries of an earlier release build
  -h, --help       this text

Environment: BENCH_DIR  work folder (default Benchmarks/work, gitignored).
EOF_USAGE
}

scale=1G
out=""
codecs=none,lz4,zstd,zlib
base_dir=""
next_dir=""
do_build=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        --codecs) codecs=${2:?}; shift ;;
        --base) base_dir=${2:?}; shift ;;
        --next) next_dir=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ -n $base_dir && -n $next_dir || -z $base_dir && -z $next_dir ]] || die "--base and --next go together"
IFS=, read -r -a CODECS <<<"$codecs"

[[ -z $base_dir ]] || scale=custom
WORK=${BENCH_DIR:-$BENCH_HOME/work}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
[[ -n $out ]] || out=$WORK/codec-sweep-$scale.json
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

sweep_prepare "$WORK" "$scale" "$base_dir" "$next_dir" "$do_build"
SWEEP=$WORK/codec-sweep
mkdir -p "$SWEEP"

for c in "${CODECS[@]}"; do
    sweep_one "$SWEEP" "$c" 1 --compression "$c"
done

v() { local k=$1.$2; echo "${S[$k]:-null}"; }
h() { if [[ $1 == null ]]; then echo -; else human_bytes "$1"; fi; }
n() { if [[ $1 == null ]]; then echo -; else echo "$1"; fi; }
printf '\nCodec sweep: corpus %s (base %s); MB/s higher is better, sizes lower are better\n\n' \
    "$SWEEP_SCALE" "$(human_bytes "$SWEEP_BASE_BYTES")"
printf '%-8s %9s %11s %9s %12s %12s %12s %9s %9s\n' codec base_s base_MB/s next_s repo_base growth_next \
    restore_MB/s rss_snap rss_rest
for c in "${CODECS[@]}"; do
    printf '%-8s %9s %11s %9s %12s %12s %12s %9s %9s\n' "$c" \
        "$(n "$(v "$c" base_snapshot_s)")" "$(n "$(v "$c" base_snapshot_mb_s)")" \
        "$(n "$(v "$c" next_snapshot_s)")" "$(h "$(v "$c" repo_bytes_after_base)")" \
        "$(h "$(v "$c" next_growth_bytes)")" "$(n "$(v "$c" restore_mb_s)")" \
        "$(n "$(v "$c" rss_base_snapshot_mib)")M" "$(n "$(v "$c" rss_restore_mib)")M"
done
sweep_json "$out" codec-sweep "${CODECS[@]}"
