#!/usr/bin/env bash
# Lifecycle benchmark: incremental re-snapshots of a many-file tree and prune, ModVault beside restic.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/lifecycle.sh [--files N] [--snapshots K] [--out FILE] [--no-build]

On a tree of N small and medium files (default 20000, about 400 MB), for ModVault and restic:
  1. first snapshot
  2. re-snapshot with nothing changed                 (issue target: < 1 s and <= 0.5x restic)
  3. re-snapshot after touching 1% of the files (new content)
  4. K more snapshots (default 6), each after touching 1%; forget half of all snapshots;
     prune: time and bytes freed (repository size before and after)
Times are wall-clock seconds on a warm cache; ratios are ModVault / restic (lower is better).
USAGE
}

files=20000
snapshots=6
out=
do_build=1
while (($#)); do
    case "$1" in
        --files) files=${2:?}; shift ;;
        --snapshots) snapshots=${2:?}; shift ;;
        --out) out=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

work=${BENCH_DIR:-$BENCH_HOME/work}/lifecycle
rm -rf "$work"
mkdir -p "$work"
out=${out:-$work/lifecycle.json}
if ((do_build)); then build_modvault; else find_modvault; fi
modvault=$MODVAULT_BIN

log "making a tree of $files files"
python3 - "$work/src" "$files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
for i in range(n):
    d = os.path.join(root, f"mods/mod{i // 100:03d}/{'textures' if i % 3 else 'meshes'}")
    os.makedirs(d, exist_ok=True)
    size = rng.choice([2_000, 8_000, 20_000, 60_000])
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(rng.randbytes(size))
PY
touch_one_percent() {
    python3 - "$work/src" "$1" <<'PY'
import os, random, sys
root, seed = sys.argv[1], int(sys.argv[2])
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
rng = random.Random(seed)
for p in rng.sample(paths, max(1, len(paths) // 100)):
    with open(p, "r+b") as f:
        f.seek(0)
        f.write(rng.randbytes(512))
PY
}
warm_cache "$work/src"
export MODVAULT_REPO=$work/modvault-repo MODVAULT_PASSWORD=bench RESTIC_PASSWORD=bench
export RESTIC_REPOSITORY=$work/restic-repo RESTIC_CACHE_DIR=$work/restic-cache
"$modvault" init -q >/dev/null
restic init -q >/dev/null

declare -A T
run_both() {
    local label=$1
    measure "$work/logs" "mv-$label" "$modvault" snapshot "$work/src" -q
    T[mv-$label]=$M_SECS
    measure "$work/logs" "restic-$label" restic backup -q "$work/src"
    T[restic-$label]=$M_SECS
}
run_both first
run_both nochange
touch_one_percent 1
run_both touched
for ((i = 2; i < snapshots + 2; i++)); do
    touch_one_percent "$i"
    "$modvault" snapshot "$work/src" -q >/dev/null
    restic backup -q "$work/src" >/dev/null
done
count=$("$modvault" snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
keep=$((count / 2))
mv_before=$(du -sb --exclude=cache "$MODVAULT_REPO" | cut -f1)
restic_before=$(du_bytes "$RESTIC_REPOSITORY")
"$modvault" forget --keep-last "$keep" -q
restic forget --keep-last "$keep" -q >/dev/null
measure "$work/logs" mv-prune "$modvault" prune -q
T[mv-prune]=$M_SECS
measure "$work/logs" restic-prune restic prune -q
T[restic-prune]=$M_SECS
mv_after=$(du -sb --exclude=cache "$MODVAULT_REPO" | cut -f1)
restic_after=$(du_bytes "$RESTIC_REPOSITORY")

printf '\n%-34s %10s %10s %8s\n' "lifecycle ($files files)" modvault restic ratio
for label in first nochange touched prune; do
    printf '%-34s %10s %10s %8s\n' "$label (s)" "${T[mv-$label]}" "${T[restic-$label]}" "$(ratio "${T[mv-$label]}" "${T[restic-$label]}")"
done
printf '%-34s %10s %10s\n' "repo before prune (bytes)" "$mv_before" "$restic_before"
printf '%-34s %10s %10s\n' "freed by prune (bytes)" "$((mv_before - mv_after))" "$((restic_before - restic_after))"
cat >"$out" <<JSON
{"files": $files, "snapshots": $count, "kept": $keep,
 "modvault": {"first_s": ${T[mv-first]}, "nochange_s": ${T[mv-nochange]}, "touched_s": ${T[mv-touched]}, "prune_s": ${T[mv-prune]}, "repo_before": $mv_before, "freed": $((mv_before - mv_after))},
 "restic": {"first_s": ${T[restic-first]}, "nochange_s": ${T[restic-nochange]}, "touched_s": ${T[restic-touched]}, "prune_s": ${T[restic-prune]}, "repo_before": $restic_before, "freed": $((restic_before - restic_after))},
 "machine": $(machine_json)}
JSON
log "wrote $out"
