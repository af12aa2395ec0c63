#!/usr/bin/env bash
# Format scenarios whose ideal growth is zero: a BA2 whose members are reordered, and one recompressed at
# another zlib level. Growth of ModVault (format-aware and not), restic and borg on the same archive.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/formats.sh [--archive FILE.ba2] [--no-build]

Takes a GNRL BA2 (default: the largest "- Main.ba2" of the 1G fixture corpus, generated if missing),
writes two variants with modvault-bench scenario (members reversed; members recompressed at zlib
9/12), and for each tool snapshots a folder holding the original, swaps in the variant, snapshots
again and reports the repository growth. The ideal growth is 0 for both: the contents are equal.
USAGE
}

archive=
do_build=1
while (($#)); do
    case "$1" in
        --archive) archive=${2:?}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

work=${BENCH_DIR:-$BENCH_HOME/work}/formats
rm -rf "$work"
mkdir -p "$work"
if ((do_build)); then build_modvault; build_bench; else find_modvault; fi
modvault=$MODVAULT_BIN
find_bench
bench=$BENCH_BIN
if [[ -z $archive ]]; then
    [[ -d $BENCH_HOME/work/corpus/1G/base ]] || "$FIXTURES_BIN" --scale 1G "$BENCH_HOME/work/corpus/1G/base" >/dev/null
    archive=$(find "$BENCH_HOME/work/corpus/1G/base" -name '*- Main.ba2' -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
fi
log "archive: $archive ($(stat -c %s "$archive") bytes)"
for kind in reorder repack; do "$bench" scenario "$kind" "$archive" "$work/$kind.ba2" >/dev/null; done

export MODVAULT_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench BORG_BASE_DIR=$work/borg-home
printf '\n%-10s %-22s %14s\n' scenario tool growth_bytes
for kind in reorder repack; do
    for tool in modvault modvault-plain restic borg; do
        dir=$work/$kind-$tool
        mkdir -p "$dir/src"
        cp "$archive" "$dir/src/Mod - Main.ba2"
        case $tool in
            modvault | modvault-plain)
                flag=; [[ $tool == modvault-plain ]] && flag=--no-format-aware
                export MODVAULT_REPO=$dir/repo
                "$modvault" init -q >/dev/null
                # The format-aware base is stored normalized (members decompressed, with recipes), so a
                # repack finds its content; the second snapshot runs with the defaults.
                base_flag=$flag; [[ $tool == modvault ]] && base_flag="--normalize all"
                "$modvault" snapshot "$dir/src" -q $base_flag >/dev/null
                before=$(du -sb --exclude=cache "$dir/repo" | cut -f1)
                cp "$work/$kind.ba2" "$dir/src/Mod - Main.ba2"
                "$modvault" snapshot "$dir/src" -q $flag >/dev/null
                after=$(du -sb --exclude=cache "$dir/repo" | cut -f1) ;;
            restic)
                restic init -q -r "$dir/repo" >/dev/null
                restic -q -r "$dir/repo" --cache-dir "$dir/cache" backup "$dir/src" >/dev/null
                before=$(du_bytes "$dir/repo")
                cp "$work/$kind.ba2" "$dir/src/Mod - Main.ba2"
                restic -q -r "$dir/repo" --cache-dir "$dir/cache" backup "$dir/src" >/dev/null
                after=$(du_bytes "$dir/repo") ;;
            borg)
                borg init -e repokey "$dir/repo" >/dev/null 2>&1
                borg create --compression lz4 "$dir/repo::a" "$dir/src" >/dev/null 2>&1
                before=$(du_bytes "$dir/repo")
                cp "$work/$kind.ba2" "$dir/src/Mod - Main.ba2"
                borg create --compression lz4 "$dir/repo::b" "$dir/src" >/dev/null 2>&1
                after=$(du_bytes "$dir/repo") ;;
        esac
        printf '%-10s %-22s %14s\n' "$kind" "$tool" "$((after - before))"
    done
done
