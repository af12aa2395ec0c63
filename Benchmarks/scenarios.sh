#!/usr/bin/env bash
# Repository growth per kind of change: each modvault-fixtures scenario (one change applied alone to the base
# corpus) snapshotted on top of a snapshot of the base, by ModVault (format-aware and not), restic and borg.
# flat-data has a base of its own (modvault-fixtures --flat-base), snapshotted into a repository of its own.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SCENARIOS=(texture script-front plugin repack reorder loose-dds rename new-mod all flat-data)
ALL_TOOLS=(modvault modvault-auto modvault-plain restic borg)

usage() {
    cat <<USAGE
Usage: Benchmarks/scenarios.sh [--scale SIZE] [--only NAME[,NAME]] [--tools LIST] [--checksum] [--no-build]
                              [--flat-members N] [--flat-plugins N]

Generates the base corpus and one tree per scenario with modvault-fixtures (--scenario NAME: the base with
one change applied alone), then for each tool snapshots a copy of the base once, and for each scenario
copies that repository, syncs the scenario tree over the working copy (rsync -a --delete) and snapshots
again. Between scenarios the working copy goes back to the base and is snapshotted once more (not
measured), so each scenario is measured against a parent whose metadata matches the folder. Reports the
repository growth against the scenario's ideal new bytes.

flat-data has its own base, flat-base (modvault-fixtures --flat-base: one flat Data folder of 200 plugins
and GNRL BA2s with 100,000 members in all), which each tool snapshots into a second repository; the
scenario tree is that folder with one plugin edited. It is left out of "all", and generated only when run.

Scenarios: ${ALL_SCENARIOS[*]}
  texture       one texture replaced inside a DX10 BA2         ideal: its unpacked bytes
  script-front  a new script as the first member of a GNRL BA2 ideal: its unpacked bytes
  plugin        40 records edited, 50 inserted in one plugin   ideal: those records' bytes
  repack        every BA2 recompressed at zlib level 9         ideal: 0
  reorder       the largest GNRL BA2 with members reversed     ideal: 0
  loose-dds     one DX10 BA2's textures also as loose DDS      ideal: the DDS headers
  rename        five loose files moved                         ideal: 0
  new-mod       a mod added (archives, plugin, loose files)    ideal: its file bytes
  all           all of them at once                            ideal: the sum
  flat-data     40 records edited in one of flat-base's plugins ideal: those records' bytes

Tools: ${ALL_TOOLS[*]}
  modvault        format-aware with the defaults, and the base optimised (modvault optimize; prune)
  modvault-auto   format-aware with the defaults for both snapshots (streams of the base kept compressed)
  modvault-plain  --no-format-aware for both snapshots
  restic          defaults;  borg: --compression lz4
A tool that fails is reported and left out; the others go on.

Options:
  --scale SIZE        corpus size passed to modvault-fixtures (default 256M; e.g. 1536M or 1.5G for the
                      1.5 GiB run, which needs about 21 GiB free under WORK: checked before starting).
                      flat-base follows it too, but never goes below ~130 MiB (its 100,000 members)
  --only NAME[,NAME]  run only these scenarios (default all)
  --tools LIST        comma-separated subset of the tools (default all five)
  --checksum          sync trees into the working copy with rsync --checksum --no-times instead of
                      rsync -a: unchanged files keep their inode and times (as run.sh does), so the
                      second snapshot is incremental and its tree metadata only covers changed files
  --flat-members N    archive members of flat-base (default 100000)
  --flat-plugins N    plugins of flat-base (default 200)
  --no-build          reuse the release build (MODVAULT_BIN and FIXTURES_BIN may name other binaries)
  -h, --help          this text

Writes WORK/scenarios.md (Markdown table) and WORK/scenarios.jsonl (one JSON object per scenario and
tool), WORK = \${BENCH_DIR:-Benchmarks/work}/scenarios/SIZE. Goal for modvault: growth <= 1.2 x ideal + 64 KiB;
for flat-data growth <= ideal + 64 KiB (a plugin edit in a large flat folder adds 64 KiB at most).
USAGE
}

scale=256M
only=
tools_arg=$(IFS=,; echo "${ALL_TOOLS[*]}")
do_build=1
checksum=0
flat_members=100000
flat_plugins=200
while (($#)); do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift ;;
        --only) only=${2:?--only needs a value}; shift ;;
        --tools) tools_arg=${2:?--tools needs a value}; shift ;;
        --checksum) checksum=1 ;;
        --flat-members) flat_members=${2:?--flat-members needs a value}; shift ;;
        --flat-plugins) flat_plugins=${2:?--flat-plugins needs a value}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done


scenarios=("${ALL_SCENARIOS[@]}")
if [[ -n $only ]]; then
    IFS=, read -r -a scenarios <<<"$only"
    for s in "${scenarios[@]}"; do in_list "$s" "${ALL_SCENARIOS[@]}" || die "unknown scenario '$s' (one of: ${ALL_SCENARIOS[*]})"; done
fi
IFS=, read -r -a tools <<<"$tools_arg"
for t in "${tools[@]}"; do in_list "$t" "${ALL_TOOLS[@]}" || die "unknown tool '$t' (one of: ${ALL_TOOLS[*]})"; done
[[ $flat_members =~ ^[1-9][0-9]*$ && $flat_plugins =~ ^[1-9][0-9]*$ ]] || die "--flat-members and --flat-plugins take positive integers"

# base_of SCENARIO: the tree the scenario is measured against.
base_of() { if [[ $1 == flat-data ]]; then echo flat-base; else echo base; fi; }
# The bases the chosen scenarios need, each snapshotted once per tool.
bases=()
for s in "${scenarios[@]}"; do in_list "$(base_of "$s")" "${bases[@]}" || bases+=("$(base_of "$s")"); done

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

# ---- disk space: every tree is about SCALE bytes; a tool run holds the working copy, the base repository
# and one scenario's copy of it at a time. Trees already generated are on disk and not counted again.
# scale_bytes SIZE -> bytes, as modvault-fixtures reads it (K/M/G/T powers of 1024, decimals allowed).
scale_bytes() {
    awk -v s="$1" 'BEGIN {
        s = toupper(s); sub(/I?B$/, "", s); m = 1; u = substr(s, length(s))
        if (u ~ /[KMGT]/) { m = 1024 ^ index("KMGT", u); s = substr(s, 1, length(s) - 1) }
        if (s !~ /^[0-9]*\.?[0-9]+$/) exit 1
        printf "%.0f\n", s * m }' || die "not a size: $1"
}
scale_b=$(scale_bytes "$scale")
# flat-base keeps a floor of ~1.3 KB per member whatever the scale.
flat_b=$(awk -v s="$scale_b" -v m="$flat_members" 'BEGIN { f = m * 1400; printf "%.0f\n", (f > s ? f : s) }')
need=0
for t in "${bases[@]}" "${scenarios[@]}"; do
    [[ -d $CORPUS/$t ]] && continue
    if [[ $t == flat-* ]]; then need=$((need + flat_b)); else need=$((need + scale_b)); fi
done
largest=$scale_b
if in_list flat-base "${bases[@]}" && ((flat_b > largest)); then largest=$flat_b; fi
need=$((need + 3 * largest))
avail=$(df --output=avail -B1 "$WORK" | tail -n 1 | tr -d ' ')
if ((avail < need)); then
    die "about $(human_bytes "$need") needed under $WORK, $(human_bytes "$avail") free: free some space, set BENCH_DIR to a larger disk, or run fewer scenarios with --only"
fi
log "disk: about $(human_bytes "$need") needed, $(human_bytes "$avail") free"
PASSWORD_FILE=$WORK/password
printf 'modvault-bench-password\n' >"$PASSWORD_FILE"
chmod 600 "$PASSWORD_FILE"

# ---- corpus: the bases and one tree per scenario, reused while the fixtures binary is unchanged ---------
declare -A IDEAL=()
flat_args=(--flat-members "$flat_members" --flat-plugins "$flat_plugins")
# gen_tree NAME [ARGS...]: CORPUS/NAME and its summary CORPUS/NAME.json (lib.sh's fixture_tree).
gen_tree() {
    local name=$1
    shift
    if [[ $name == flat-* ]]; then fixture_tree "$CORPUS" "$scale" "$name" "$@" "${flat_args[@]}"; else fixture_tree "$CORPUS" "$scale" "$name" "$@"; fi
}
summary_ideal() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["idealNewBytes"])' "$1"; }

declare -A BASE_BYTES=()
for b in "${bases[@]}"; do
    if [[ $b == flat-base ]]; then gen_tree "$b" --flat-base; else gen_tree "$b"; fi
    BASE_BYTES[$b]=$(file_bytes "$CORPUS/$b")
    log "$b: $(file_count "$CORPUS/$b") files, $(human_bytes "${BASE_BYTES[$b]}")"
done
for s in "${scenarios[@]}"; do
    gen_tree "$s" --scenario "$s"
    IDEAL[$s]=$(summary_ideal "$CORPUS/$s.json")
done

# ---- the tools ------------------------------------------------------------------------------------------
# Each tool works in WORK/runs/TOOL on ./src (a copy of a base, never the generator's output). Its state
# (repository, caches, configuration) lives in one folder, TDIR: WORK/runs/TOOL/BASE after the snapshot of
# BASE (base or flat-base), copied to WORK/runs/TOOL/SCENARIO for each scenario of that base, so every
# scenario starts from the same base snapshot and each base is snapshotted once per tool.

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

# tool_init LOGDIR TOOL BASE: a new repository in TDIR for the snapshots of BASE.
tool_init() {
    local logs=$1 label=init-$3
    mkdir -p "$TDIR/cache"
    case "$2" in
        modvault | modvault-auto | modvault-plain) run_timed "$logs" "$label" "$MODVAULT_BIN" init ;;
        restic) run_timed "$logs" "$label" restic -r "$TDIR/repo" --cache-dir "$TDIR/cache" init ;;
        borg) run_timed "$logs" "$label" borg init -e repokey "$TDIR/repo" ;;
    esac
}

# tool_snapshot LOGDIR TOOL LABEL(base|flat-base|rebase-SCENARIO|scenario name): one timed snapshot of ./src.
tool_snapshot() {
    local logs=$1 tool=$2 label=$3
    warm_cache src
    case "$tool" in
        modvault)
            # The recommended flow: a default first snapshot, then `optimize` (zlib streams stored decompressed,
            # with recipes) and `prune`, untimed; every later snapshot with the defaults.
            run_timed "$logs" "snapshot-$label" "$MODVAULT_BIN" snapshot src --tag "$label" --json || return 1
            if in_list "$label" "${bases[@]}"; then
                local secs=$T_SECS
                run_timed "$logs" "optimize-$label" "$MODVAULT_BIN" optimize --json || return 1
                run_timed "$logs" "prune-$label" "$MODVAULT_BIN" prune || return 1
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

declare -A R=()   # R[tool.scenario.metric], R[tool.BASE.metric], R[tool.BASE.status]
# bench_base TOOL BASE: BASE snapshotted once into a new repository, then each chosen scenario of BASE.
bench_base() {
    local tool=$1 b=$2 rundir=$WORK/runs/$1 logs=$WORK/runs/$1/logs s before after
    rsync -a --delete "$CORPUS/$b/" src/
    TDIR=$rundir/$b
    tool_env "$tool"
    if ! tool_init "$logs" "$tool" "$b" || ! tool_snapshot "$logs" "$tool" "$b"; then
        R[$tool.$b.status]=failed
        printf '\n*** %s: FAILED on the %s snapshot (logs: %s); no figures for its scenarios ***\n\n' "$tool" "$b" "$logs" >&2
        [[ $tool != modvault ]] || printf '    (the modvault column needs a build that has optimize)\n\n' >&2
        rm -rf "$TDIR"
        return 0
    fi
    R[$tool.$b.status]=ok
    R[$tool.$b.snapshot_s]=$T_SECS
    R[$tool.$b.repo_bytes]=$(repo_bytes "$TDIR/repo")
    for s in "${scenarios[@]}"; do
        [[ $(base_of "$s") == "$b" ]] || continue
        # Back to the base, and a snapshot of that: the previous scenario's files came back with new
        # inodes and times, which must not count against this one. Only then the scenario over it.
        TDIR=$rundir/$b
        tool_env "$tool"
        sync_tree "$CORPUS/$b"
        tool_snapshot "$logs" "$tool" "rebase-$s" || true
        TDIR=$rundir/$s
        rm -rf "$TDIR"
        cp -a "$rundir/$b" "$TDIR"
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
    rm -rf "${rundir:?}/$b"
}

bench_tool() {
    local tool=$1 rundir=$WORK/runs/$1 b
    rm -rf "$rundir"
    mkdir -p "$rundir" "$rundir/logs"
    cd "$rundir"
    log "== $tool"
    for b in "${bases[@]}"; do bench_base "$tool" "$b"; done
    cd "$WORK"
    rm -rf "$rundir/src"
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
# goal_met GROWTH IDEAL SCENARIO: issue 9's targets. A plugin edit in a large flat folder gets no 20 %
# allowance: its only overhead should be the folder's metadata, within 64 KiB.
goal_met() {
    local factor=1.2
    [[ $3 != flat-data ]] || factor=1
    awk -v g="$1" -v i="$2" -v f="$factor" 'BEGIN { print (g <= f * i + 65536) ? "yes" : "NO" }'
}
goal_text="goal (modvault): growth <= 1.2 x ideal + 64 KiB (flat-data: ideal + 64 KiB)"

header=(scenario ideal_bytes)
for tool in "${tools[@]}"; do
    header+=("$tool" "x_ideal")
    [[ $tool != modvault ]] || header+=(goal)
done
sync_label="rsync -a --delete"
((checksum == 0)) || sync_label="rsync --checksum --no-times --delete"
rows=()
time_header=(seconds "${bases[@]}" "${scenarios[@]}")
time_rows=()
for tool in "${tools[@]}"; do
    row=("$tool")
    for b in "${bases[@]}"; do row+=("${R[$tool.$b.snapshot_s]:-failed}"); done
    for s in "${scenarios[@]}"; do row+=("${R[$tool.$s.snapshot_s]:-failed}"); done
    time_rows+=("$(IFS=$'\t'; echo "${row[*]}")")
done
jsonl=$WORK/scenarios.jsonl
: >"$jsonl"
for s in "${scenarios[@]}"; do
    ideal=${IDEAL[$s]}
    b=$(base_of "$s")
    row=("$s" "$(group "$ideal")")
    for tool in "${tools[@]}"; do
        g=${R[$tool.$s.growth]:-}
        row+=("$(growth_cell "$g" "$ideal")" "$(ratio_cell "$g" "$ideal")")
        goal=
        if [[ $tool == modvault ]]; then
            [[ -z $g ]] || goal=$(goal_met "$g" "$ideal" "$s")
            row+=("${goal:--}")
        fi
        printf '{"scale": %s, "sync": %s, "scenario": %s, "base": %s, "ideal_new_bytes": %s, "tool": %s, "status": %s, "base_repo_bytes": %s, "base_snapshot_s": %s, "repo_bytes_after": %s, "growth_bytes": %s, "growth_over_ideal": %s, "snapshot_s": %s, "goal_met": %s}\n' \
            "$(json_str "$scale")" "$(json_str "$sync_label")" "$(json_str "$s")" "$(json_str "$b")" "$ideal" "$(json_str "$tool")" \
            "$(json_str "$([[ -n $g ]] && echo ok || echo failed)")" \
            "$(json_num "${R[$tool.$b.repo_bytes]:-}")" "$(json_num "${R[$tool.$b.snapshot_s]:-}")" \
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
# base_line BASE: each tool's repository size and time after its snapshot of BASE.
base_line() {
    local b=$1 tool out=""
    for tool in "${tools[@]}"; do
        if [[ ${R[$tool.$b.status]:-} == ok ]]; then
            out+="$tool $(human_bytes "${R[$tool.$b.repo_bytes]}") in ${R[$tool.$b.snapshot_s]} s; "
        else
            out+="$tool failed; "
        fi
    done
    echo "${out%; }"
}
# bases_text md|text: one line per base, its size and its snapshots.
bases_text() {
    local b
    for b in "${bases[@]}"; do
        if [[ $1 == md ]]; then
            printf '%s: %s files, %s. Snapshot (repository, time): %s.\n' \
                "${b^}" "$(file_count "$CORPUS/$b")" "$(human_bytes "${BASE_BYTES[$b]}")" "$(base_line "$b")"
        else
            printf '%s %s; snapshot: %s\n' "$b" "$(human_bytes "${BASE_BYTES[$b]}")" "$(base_line "$b")"
        fi
    done
}

{
    echo "## Scenarios at --scale $scale"
    echo
    bases_text md
    echo "Scenario trees synced into the working copy with \`$sync_label\`."
    echo "Growth in bytes (KiB where the ideal is 0); x_ideal = growth / ideal; $goal_text."
    echo
    print_table md header rows
    echo
    echo "Snapshot wall time in seconds (sync before each; bases: first snapshot; scenarios: on top of their base)."
    echo
    print_table md time_header time_rows
} >"$WORK/scenarios.md"

echo
echo "Scenarios at --scale $scale ($sync_label)"
bases_text text
echo
print_table text header rows
echo
echo "Growth in bytes (KiB where the ideal is 0); x_ideal = growth / ideal; $goal_text."
echo
print_table text time_header time_rows
echo
echo "Snapshot wall time in seconds (sync before each; bases: first snapshot; scenarios: on top of their base)."
log "written: $WORK/scenarios.md, $jsonl"
