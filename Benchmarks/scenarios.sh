#!/usr/bin/env bash
# Repository growth per kind of change: each modvault-fixtures scenario (one change applied alone to the base
# corpus) snapshotted on top of a snapshot of the base, by ModVault (format-aware and not), restic and borg.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SCENARIOS=(texture script-front plugin repack reorder loose-dds rename all)
ALL_TOOLS=(modvault modvault-auto modvault-plain restic borg)

usage() {
    cat <<USAGE
Usage: Benchmarks/scenarios.sh [--scale SIZE] [--only NAME[,NAME]] [--tools LIST] [--checksum] [--no-build]

Generates the base corpus and one tree per scenario with modvault-fixtures (--scenario NAME: the base with
one change applied alone), then for each tool snapshots a copy of the base once, and for each scenario
copies that repository, syncs the scenario tree over the working copy (rsync -a --delete) and snapshots
again. Between scenarios the working copy goes back to the base and is snapshotted once more (not
measured), so each scenario is measured against a parent whose metadata matches the folder. Reports the repository growth against the scenario's ideal new bytes.

Scenarios: ${ALL_SCENARIOS[*]}
  texture       one texture replaced inside a DX10 BA2         ideal: its unpacked bytes
  script-front  a new script as the first member of a GNRL BA2 ideal: its unpacked bytes
  plugin        40 records edited, 50 inserted in one plugin   ideal: those records' bytes
  repack        every BA2 recompressed at zlib level 9         ideal: 0
  reorder       the largest GNRL BA2 with members reversed     ideal: 0
  loose-dds     one DX10 BA2's textures also as loose DDS      ideal: the DDS headers
  rename        five loose files moved                         ideal: 0
  all           all of them at once                            ideal: the sum

Tools: ${ALL_TOOLS[*]}
  modvault        format-aware with the defaults, and the base optimised (modvault optimize; prune)
  modvault-auto   format-aware with the defaults for both snapshots (streams of the base kept compressed)
  modvault-plain  --no-format-aware for both snapshots
  restic          defaults;  borg: --compression lz4
A tool that fails is reported and left out; the others go on.

Options:
  --scale SIZE        corpus size passed to modvault-fixtures (default 256M)
  --only NAME[,NAME]  run only these scenarios (default all)
  --tools LIST        comma-separated subset of the tools (default all five)
  --checksum          sync trees into the working copy with rsync --checksum --no-times instead of
                      rsync -a: unchanged files keep their inode and times (as run.sh does), so the
                      second snapshot is incremental and its tree metadata only covers changed files
  --no-build          reuse the release build (MODVAULT_BIN and FIXTURES_BIN may name other binaries)
  -h, --help          this text

Writes WORK/scenarios.md (Markdown table) and WORK/scenarios.jsonl (one JSON object per scenario and
tool), WORK = \${BENCH_DIR:-Benchmarks/work}/scenarios/SIZE. Goal for modvault: growth <= 1.2 x ideal + 64 KiB.
USAGE
}

scale=256M
only=
tools_arg=$(IFS=,; echo "${ALL_TOOLS[*]}")
do_build=1
checksum=0
while (($#)); do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift ;;
        --only) only=${2:?--only needs a value}; shift ;;
        --tools) tools_arg=${2:?--tools needs a value}; shift ;;
        --checksum) checksum=1 ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

in_list() { local x=$1; shift; local y; for y in "$@"; do [[ $x == "$y" ]] && return 0; done; return 1; }

scenarios=("${ALL_SCENARIOS[@]}")
if [[ -n $only ]]; then
    IFS=, read -r -a scenarios <<<"$only"
    for s in "${scenarios[@]}"; do in_list "$s" "${ALL_SCENARIOS[@]}" || die "unknown scenario '$s' (one of: ${ALL_SCENARIOS[*]})"; done
fi
IFS=, read -r -a tools <<<"$tools_arg"
for t in "${tools[@]}"; do in_list "$t" "${ALL_TOOLS[@]}" || die "unknown tool '$t' (one of: ${ALL_TOOLS[*]})"; done

command -v /usr/bin/time >/dev/null || die "/usr/bin/time missing: run scripts/setup.sh"
command -v rsync >/dev/null || die "rsync missing: run scripts/setup.sh"
command -v python3 >/dev/null || die "python3 missing"
for t in restic borg; do
    if in_list "$t" "${tools[@]}"; then command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh"; fi
done

if ((do_build)); then
    build_modvault
elif [[ -x ${MODVAULT_BIN:-} && -x ${FIXTURES_BIN:-} ]]; then
    :   # both given: no need to ask SwiftPM where the release build is
else
    find_modvault
fi
[[ -x $FIXTURES_BIN ]] || die "modvault-fixtures not built: $FIXTURES_BIN"

WORK=${BENCH_DIR:-$BENCH_HOME/work}/scenarios/$scale
CORPUS=$WORK/corpus
mkdir -p "$CORPUS"
PASSWORD_FILE=$WORK/password
printf 'modvault-bench-password\n' >"$PASSWORD_FILE"
chmod 600 "$PASSWORD_FILE"

# ---- corpus: the base and one tree per scenario, reused while the fixtures binary is unchanged ----------
declare -A IDEAL=()
stamp="$scale $(sha256sum "$FIXTURES_BIN" | cut -c1-16)"
# gen_tree NAME [--scenario NAME]: CORPUS/NAME and its summary CORPUS/NAME.json
gen_tree() {
    local name=$1 dir=$CORPUS/$1
    shift
    if [[ -f $dir.stamp && $(cat "$dir.stamp") == "$stamp" && -d $dir && -s $dir.json ]]; then
        log "tree $name reused"
    else
        log "generating tree $name ($scale)"
        rm -rf "$dir" "$dir.stamp"
        "$FIXTURES_BIN" --scale "$scale" "$@" "$dir" >"$dir.json" || die "modvault-fixtures failed for $name"
        printf '%s\n' "$stamp" >"$dir.stamp"
    fi
}
summary_ideal() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["idealNewBytes"])' "$1"; }

gen_tree base
for s in "${scenarios[@]}"; do
    gen_tree "$s" --scenario "$s"
    IDEAL[$s]=$(summary_ideal "$CORPUS/$s.json")
done
base_bytes=$(file_bytes "$CORPUS/base")
log "base: $(file_count "$CORPUS/base") files, $(human_bytes "$base_bytes")"

# ---- the tools ------------------------------------------------------------------------------------------
# Each tool works in WORK/runs/TOOL on ./src (a copy of the base, never the generator's output). Its state
# (repository, caches, configuration) lives in one folder, TDIR: WORK/runs/TOOL/base after the base
# snapshot, copied to WORK/runs/TOOL/SCENARIO for each scenario, so every scenario starts from the same base
# snapshot and the base is snapshotted once per tool.

tool_env() {
    export XDG_CACHE_HOME=$TDIR/xdg-cache XDG_CONFIG_HOME=$TDIR/xdg-config
    case "$1" in
        modvault | modvault-auto | modvault-plain)
            export MODVAULT_REPO=$TDIR/repo MODVAULT_PASSWORD_FILE=$PASSWORD_FILE MODVAULT_CACHE_DIR=$TDIR/cache ;;
        restic) export RESTIC_PASSWORD=modvault-bench-password ;;
        borg)
            export BORG_PASSPHRASE=modvault-bench-password
            export BORG_BASE_DIR=$TDIR/cache BORG_CACHE_DIR=$TDIR/cache/cache
            export BORG_CONFIG_DIR=$TDIR/cache/config BORG_SECURITY_DIR=$TDIR/cache/security
            export BORG_KEYS_DIR=$TDIR/cache/keys
            # Each scenario works on a copy of the base repository, at another path.
            export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes ;;
    esac
}

# run_timed LOGDIR LABEL CMD...: lib.sh's measure (sync first, wall time, logs) in a subshell, so that a
# failing command is reported and returns 1 instead of ending the run. Sets T_SECS.
T_SECS=""
run_timed() {
    local logdir=$1 label=$2
    T_SECS=""
    if (measure "$@" && printf '%s\n' "$M_SECS" >"$logdir/$label.secs"); then
        T_SECS=$(cat "$logdir/$label.secs")
        return 0
    fi
    return 1
}

tool_init() {
    local logs=$1
    mkdir -p "$TDIR/cache"
    case "$2" in
        modvault | modvault-auto | modvault-plain) run_timed "$logs" init "$MODVAULT_BIN" init ;;
        restic) run_timed "$logs" init restic -r "$TDIR/repo" --cache-dir "$TDIR/cache" init ;;
        borg) run_timed "$logs" init borg init -e repokey "$TDIR/repo" ;;
    esac
}

# tool_snapshot LOGDIR TOOL LABEL(base|scenario name): one timed snapshot of ./src.
tool_snapshot() {
    local logs=$1 tool=$2 label=$3
    warm_cache src
    case "$tool" in
        modvault)
            # The recommended flow: a default first snapshot, then `optimize` (zlib streams stored decompressed,
            # with recipes) and `prune`, untimed; every later snapshot with the defaults.
            run_timed "$logs" "snapshot-$label" "$MODVAULT_BIN" snapshot src --tag "$label" --json || return 1
            if [[ $label == base ]]; then
                local secs=$T_SECS
                run_timed "$logs" optimize "$MODVAULT_BIN" optimize --json || return 1
                run_timed "$logs" prune "$MODVAULT_BIN" prune || return 1
                T_SECS=$secs
            fi ;;
        modvault-auto)
            run_timed "$logs" "snapshot-$label" "$MODVAULT_BIN" snapshot src --tag "$label" --json ;;
        modvault-plain)
            run_timed "$logs" "snapshot-$label" "$MODVAULT_BIN" snapshot src --no-format-aware --tag "$label" --json ;;
        restic)
            run_timed "$logs" "snapshot-$label" restic -r "$TDIR/repo" --cache-dir "$TDIR/cache" backup --tag "$label" src ;;
        borg)
            run_timed "$logs" "snapshot-$label" borg create --compression lz4 "$TDIR/repo::$label" src ;;
    esac
}

# sync_tree FROM: make ./src an exact copy of FROM (see --checksum).
sync_tree() {
    if ((checksum)); then sync_source "$1" src; else rsync -a --delete "$1/" src/; fi
}

declare -A R=()   # R[tool.scenario.metric], R[tool.base.metric], R[tool.status]
bench_tool() {
    local tool=$1 rundir=$WORK/runs/$1 logs=$WORK/runs/$1/logs s before after
    rm -rf "$rundir"
    mkdir -p "$rundir" "$logs"
    cd "$rundir"
    log "== $tool"
    rsync -a --delete "$CORPUS/base/" src/
    TDIR=$rundir/base
    tool_env "$tool"
    if ! tool_init "$logs" "$tool" || ! tool_snapshot "$logs" "$tool" base; then
        R[$tool.status]=failed
        printf '\n*** %s: FAILED on the base snapshot (logs: %s); no figures for this tool ***\n\n' "$tool" "$logs" >&2
        [[ $tool != modvault ]] || printf '    (the modvault column needs a build that has optimize)\n\n' >&2
        cd "$WORK"
        rm -rf "$rundir/src"
        return 0
    fi
    R[$tool.status]=ok
    R[$tool.base.snapshot_s]=$T_SECS
    R[$tool.base.repo_bytes]=$(repo_bytes "$TDIR/repo")
    for s in "${scenarios[@]}"; do
        # Back to the base, and a snapshot of that: the previous scenario's files came back with new
        # inodes and times, which must not count against this one. Only then the scenario over it.
        TDIR=$rundir/base
        tool_env "$tool"
        sync_tree "$CORPUS/base"
        tool_snapshot "$logs" "$tool" "rebase-$s" || true
        TDIR=$rundir/$s
        rm -rf "$TDIR"
        cp -a "$rundir/base" "$TDIR"
        tool_env "$tool"
        sync_tree "$CORPUS/$s"
        before=$(repo_bytes "$TDIR/repo")
        if tool_snapshot "$logs" "$tool" "$s"; then
            after=$(repo_bytes "$TDIR/repo")
            R[$tool.$s.snapshot_s]=$T_SECS
            R[$tool.$s.growth]=$((after - before))
            R[$tool.$s.repo_after]=$after
        else
            printf '\n*** %s: FAILED on scenario %s (logs: %s) ***\n\n' "$tool" "$s" "$logs" >&2
        fi
        rm -rf "$TDIR"
    done
    cd "$WORK"
    rm -rf "$rundir/src" "$rundir/base"
}

for tool in "${tools[@]}"; do bench_tool "$tool"; done

# ---- report ---------------------------------------------------------------------------------------------
group() { printf '%s\n' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
# growth_cell GROWTH IDEAL: bytes when the ideal is positive, KiB when it is 0
growth_cell() {
    if [[ -z $1 ]]; then echo failed
    elif (($2 > 0)); then group "$1"
    else awk -v g="$1" 'BEGIN { printf "%.1f KiB\n", g / 1024 }'; fi
}
ratio_cell() {
    if [[ -z $1 || $2 -eq 0 ]]; then echo n/a; else awk -v g="$1" -v i="$2" 'BEGIN { printf "%.2f\n", g / i }'; fi
}
goal_met() { awk -v g="$1" -v i="$2" 'BEGIN { print (g <= 1.2 * i + 65536) ? "yes" : "NO" }'; }

header=(scenario ideal_bytes)
for tool in "${tools[@]}"; do
    header+=("$tool" "x_ideal")
    [[ $tool != modvault ]] || header+=(goal)
done
sync_label="rsync -a --delete"
((checksum == 0)) || sync_label="rsync --checksum --no-times --delete"
rows=()
time_header=(seconds base "${scenarios[@]}")
time_rows=()
for tool in "${tools[@]}"; do
    row=("$tool" "${R[$tool.base.snapshot_s]:-failed}")
    for s in "${scenarios[@]}"; do row+=("${R[$tool.$s.snapshot_s]:-failed}"); done
    time_rows+=("$(IFS=$'\t'; echo "${row[*]}")")
done
jsonl=$WORK/scenarios.jsonl
: >"$jsonl"
for s in "${scenarios[@]}"; do
    ideal=${IDEAL[$s]}
    row=("$s" "$(group "$ideal")")
    for tool in "${tools[@]}"; do
        g=${R[$tool.$s.growth]:-}
        row+=("$(growth_cell "$g" "$ideal")" "$(ratio_cell "$g" "$ideal")")
        goal=
        if [[ $tool == modvault ]]; then
            [[ -z $g ]] || goal=$(goal_met "$g" "$ideal")
            row+=("${goal:--}")
        fi
        printf '{"scale": %s, "sync": %s, "scenario": %s, "ideal_new_bytes": %s, "tool": %s, "status": %s, "base_repo_bytes": %s, "base_snapshot_s": %s, "repo_bytes_after": %s, "growth_bytes": %s, "growth_over_ideal": %s, "snapshot_s": %s, "goal_met": %s}\n' \
            "$(json_str "$scale")" "$(json_str "$sync_label")" "$(json_str "$s")" "$ideal" "$(json_str "$tool")" \
            "$(json_str "$([[ -n $g ]] && echo ok || echo failed)")" \
            "$(json_num "${R[$tool.base.repo_bytes]:-}")" "$(json_num "${R[$tool.base.snapshot_s]:-}")" \
            "$(json_num "${R[$tool.$s.repo_after]:-}")" "$(json_num "$g")" \
            "$(if [[ -n $g && $ideal -gt 0 ]]; then ratio "$g" "$ideal"; else echo null; fi)" \
            "$(json_num "${R[$tool.$s.snapshot_s]:-}")" \
            "$(if [[ -n $goal ]]; then [[ $goal == yes ]] && echo true || echo false; else echo null; fi)" >>"$jsonl"
    done
    rows+=("$(IFS=$'\t'; echo "${row[*]}")")
done

# print_table text|md HEADER_ARRAY ROWS_ARRAY: a header and tab-separated rows as aligned text or Markdown.
print_table() {
    local -n head=$2 body=$3
    { (IFS=$'\t'; echo "${head[*]}"); printf '%s\n' "${body[@]}"; } | awk -F '\t' -v md="$([[ $1 == md ]] && echo 1 || echo 0)" '
        { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > width[i]) width[i] = length($i) } n = NF; lines = NR }
        END {
            for (r = 1; r <= lines; r++) {
                out = md ? "|" : ""
                for (i = 1; i <= n; i++) {
                    # text: first column left-aligned, numbers right-aligned
                    f = (i == 1) ? "%-" width[i] "s" : "%" width[i] "s"
                    out = out (md ? " " cell[r, i] " |" : sprintf(f, cell[r, i]) (i < n ? "  " : ""))
                }
                print out
                if (md && r == 1) { sep = "|"; for (i = 1; i <= n; i++) sep = sep (i == 1 ? "---|" : "---:|"); print sep }
            }
        }'
}
base_line() {
    local tool out=""
    for tool in "${tools[@]}"; do
        if [[ ${R[$tool.status]:-} == ok ]]; then
            out+="$tool $(human_bytes "${R[$tool.base.repo_bytes]}") in ${R[$tool.base.snapshot_s]} s; "
        else
            out+="$tool failed; "
        fi
    done
    echo "${out%; }"
}

{
    echo "## Scenarios at --scale $scale"
    echo
    echo "Base: $(file_count "$CORPUS/base") files, $(human_bytes "$base_bytes"). Base snapshot (repository, time): $(base_line)."
    echo "Scenario trees synced into the working copy with \`$sync_label\`."
    echo "Growth in bytes (KiB where the ideal is 0); x_ideal = growth / ideal; goal (modvault): growth <= 1.2 x ideal + 64 KiB."
    echo
    print_table md header rows
    echo
    echo "Snapshot wall time in seconds (sync before each; base: first snapshot; scenarios: on top of base)."
    echo
    print_table md time_header time_rows
} >"$WORK/scenarios.md"

echo
echo "Scenarios at --scale $scale ($sync_label); base $(human_bytes "$base_bytes"); base snapshot: $(base_line)"
echo
print_table text header rows
echo
echo "Growth in bytes (KiB where the ideal is 0); x_ideal = growth / ideal; goal (modvault): growth <= 1.2 x ideal + 64 KiB."
echo
print_table text time_header time_rows
echo
echo "Snapshot wall time in seconds (sync before each; base: first snapshot; scenarios: on top of base)."
log "written: $WORK/scenarios.md, $jsonl"
