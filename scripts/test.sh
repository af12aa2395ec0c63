#!/usr/bin/env bash
# The whole test run: what CI executes (through .ci/run) and what a developer runs locally.
# shellcheck disable=SC2317 # the stage_* functions are called indirectly, by name
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/test.sh [--skip-setup] [STAGE...]

Runs, in order, the selected stages (all of them by default):
  setup   scripts/setup.sh: system libraries, baselines, PyPI test servers
  build   swift build --build-tests
  unit    swift test (the whole suite: Swift Testing and XCTest), in two passes: first every
          target but ModVaultRemoteTests, then ModVaultRemoteTests, whose tests talk to live
          servers (moto, rclone, PocketBase) on loopback with wall-clock timeouts, alone
  web     Tests/web/ui_test.py: Selenium drives headless Chromium through `modvault serve`
          (screenshots of each page in .build/screenshots)

Not run by default (name it to run it):
  fuzz    builds the fuzz targets (libFuzzer + AddressSanitizer) and runs each for
          $FUZZ_SECONDS seconds (default 20); any crash fails the stage
  bench   compiles the Benchmarks package (debug), to catch API drift; runs nothing

A failing build stops the run. Later stages still run after a failing test stage, and the
script exits with the exit code of the first stage that failed (swift test's for `unit`).

Environment: SWIFT_TEST_ARGS  extra arguments for `swift test` (e.g. "--filter Chunking")
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ALL_STAGES=(setup build unit web fuzz)
stages=()
skip_setup=0
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --skip-setup) skip_setup=1 ;;
        setup | build | unit | web | fuzz | bench) stages+=("$1") ;;
        *) echo "test.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
((${#stages[@]})) || stages=("${ALL_STAGES[@]}")

section() { printf '\n==== %s ====\n' "$*"; }

# Console scripts installed by pip (pocketbase, rclone, moto_server) for the stages that use them.
if command -v python3 >/dev/null 2>&1; then
    py_scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
    if [[ -n ${py_scripts:-} ]]; then PATH="$PATH:$py_scripts"; fi
fi
export PATH

# ---- stages ----------------------------------------------------------------------------

stage_setup() {
    bash scripts/setup.sh
}

stage_build() {
    swift build --build-tests
}

UNIT_LOG=.build/unit-test.log

# One `swift test` over ARGS, appending to the unit log; returns swift test's exit code.
unit_pass() {
    swift test "$@" 2>&1 | tee -a "$UNIT_LOG"
    return "${PIPESTATUS[0]}"
}

stage_unit() {
    mkdir -p .build
    if [[ -n ${SWIFT_TEST_ARGS:-} ]]; then
        # shellcheck disable=SC2086 # SWIFT_TEST_ARGS is a word list on purpose
        unit_pass $SWIFT_TEST_ARGS
        return
    fi
    # The live-server tests run in a pass of their own. Run beside the rest of the suite, the CPU-
    # and disk-heavy tests there (snapshots of generated corpora, the kill test's subprocesses) left
    # the servers and the test process's few threads so little time on a loaded 2-core machine that
    # health checks and request timeouts fired on servers that were merely waiting their turn.
    local rc=0
    unit_pass --skip ModVaultRemoteTests || rc=$?
    unit_pass --filter ModVaultRemoteTests || { local remote_rc=$?; ((rc != 0)) || rc=$remote_rc; }
    return "$rc"
}

stage_web() {
    python3 Tests/web/ui_test.py --binary .build/debug/modvault --screenshots .build/screenshots
}

stage_fuzz() {
    bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-20}"
}

stage_bench() {
    swift build --package-path Benchmarks
}

# New stages go here as stage_NAME functions, then into ALL_STAGES and the argument list above.

# ---- driver ----------------------------------------------------------------------------

first_failure=0
unit_failed=0
rm -f "$UNIT_LOG"
summary=()
start_all=$SECONDS
for stage in "${stages[@]}"; do
    if [[ $stage == setup ]] && ((skip_setup)); then
        summary+=("setup: skipped")
        continue
    fi
    section "$stage"
    start=$SECONDS
    set +e
    "stage_$stage"
    rc=$?
    set -e
    summary+=("$stage: $([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)") in $((SECONDS - start))s")
    if ((rc != 0)); then
        ((first_failure != 0)) || first_failure=$rc
        [[ $stage == unit ]] && unit_failed=1
        # Nothing after setup or build can run without them.
        [[ $stage == setup || $stage == build ]] && break
    fi
done

# A long log is often seen only from its end, so the failures are repeated there.
if ((unit_failed)) && grep -q -E '^✘|error:|Fatal error|Test .* failed' "$UNIT_LOG"; then
    section "unit test failures (from $UNIT_LOG)"
    grep -E '^✘|error:|Fatal error|Test .* failed' "$UNIT_LOG" | head -60
fi

section "summary ($((SECONDS - start_all))s)"
printf '%s\n' "${summary[@]}"
exit "$first_failure"
