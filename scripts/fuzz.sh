#!/usr/bin/env bash
# Builds the format-layer fuzz targets (package Fuzz/, every module compiled with
# -sanitize=fuzzer,address) and runs each one for a fixed time. Fails if any target finds a crash,
# a hang (one input over 10 s), an allocation over 256 MiB or a broken invariant.
set -euo pipefail

usage() {
    cat <<'USAGE'
Usage: scripts/fuzz.sh [--seconds N] [--build-only] [TARGET...]

Targets: ba2 dds plugin recipe metadata merge (all by default; metadata = trees, content lists, stream
blobs and index files; merge = the record-level plugin merger on three plugins cut from one input). Each runs for N seconds (default 30), seeded with
Fuzz/seeds/TARGET and the matching public samples in Fixtures/public. New inputs accumulate in
Fuzz/work/TARGET/corpus; a crashing input is saved as Fuzz/work/TARGET/artifacts/crash-* (rerun it
with Fuzz/.build/debug/fuzz-TARGET FILE).
USAGE
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=30
build_only=0
targets=()
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --seconds) [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds needs a number" >&2; exit 2; }; seconds=$2; shift ;;
        --build-only) build_only=1 ;;
        ba2 | dds | plugin | recipe | metadata | merge) targets+=("$1") ;;
        *) echo "fuzz.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
((${#targets[@]})) || targets=(ba2 dds plugin recipe metadata merge)

cd "$ROOT/Fuzz"
echo "==== building fuzz targets ===="
swift build -c debug --scratch-path .build -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 \
    | grep -v "Cannot export local symbol" || true
for t in "${targets[@]}"; do
    [[ -x .build/debug/fuzz-$t ]] || { echo "fuzz.sh: fuzz-$t was not built" >&2; exit 1; }
done
((build_only)) && exit 0

public="$ROOT/Fixtures/public"
max_len() {
    case "$1" in
        ba2) echo 20000 ;;  # holds every small public archive (the largest, gnrl_v7/v8, is 19,296 bytes)
        plugin) echo 8192 ;;
        merge) echo 16384 ;;
        dds) echo 4096 ;;
        recipe) echo 2048 ;;
        metadata) echo 4096 ;;
    esac
}

# Copies the public samples that suit a target into its seed folder (big files keep their first bytes).
stage_public() {
    local t=$1 dir=$2 limit
    limit=$(max_len "$t")
    mkdir -p "$dir"
    case "$t" in
        ba2) find "$public" -name '*.ba2' -size -"$limit"c -exec cp {} "$dir/" \; ;;
        dds) for f in "$public"/*/*.dds "$public"/*/*/*.dds; do [[ -f $f ]] && head -c "$limit" "$f" >"$dir/$(basename "$f")"; done ;;
        plugin) find "$public" -name '*.es[pml]' -exec cp {} "$dir/" \; ;;
        merge) find "$public" -name '*.es[pml]' | while read -r f; do { printf '\125\177'; cat "$f" "$f" "$f"; } >"$dir/$(basename "$f").3"; done ;;
        recipe | metadata) ;;
    esac
}

status=0
summary=()
for t in "${targets[@]}"; do
    work="$ROOT/Fuzz/work/$t"
    mkdir -p "$work/corpus" "$work/artifacts"
    rm -rf "$work/public" && stage_public "$t" "$work/public"
    echo "==== fuzz-$t for ${seconds}s ===="
    set +e
    ASAN_OPTIONS=detect_leaks=0:malloc_context_size=0 ".build/debug/fuzz-$t" \
        -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
        "$work/corpus" "$ROOT/Fuzz/seeds/$t" "$work/public" >"$work/log.txt" 2>&1
    rc=$?
    set -e
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/log.txt" | grep -oE '[0-9]+$' || echo "?")
    cov=$(grep -oE 'cov: [0-9]+' "$work/log.txt" | tail -1 | grep -oE '[0-9]+' || echo "?")
    if ((rc == 0)); then
        summary+=("fuzz-$t: ok, $runs executions, coverage $cov")
    else
        status=1
        summary+=("fuzz-$t: FAILED (exit $rc) after $runs executions; see $work/log.txt and $work/artifacts/")
        grep -E "ERROR|SUMMARY|Fatal error|precondition|Test unit written" "$work/log.txt" | head -20 || true
    fi
done

echo "==== summary ===="
printf '%s\n' "${summary[@]}"
exit "$status"
