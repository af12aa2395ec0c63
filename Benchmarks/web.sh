#!/usr/bin/env bash
# The web UI's server time (issue 14): every page of `modvault serve` over a repository of the
# sample corpus, and the inside of an archive whose one folder holds 100,000 members.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/web.sh [--scale SIZE] [--members N] [--runs N] [--no-build]

Snapshots the corpus base and next (modvault-fixtures --scale SIZE, default 1536M) into a new
repository, together with a generated GNRL BA2 whose single folder holds N members (default
100000), starts `modvault serve` (release build) on a free loopback port, signs in, and times each
page and API call with curl (time_total: request to last byte, on loopback, so server time) RUNS
times (default 5), reporting the median and the slowest. Goals: every page under 300 ms; the
archive folder of N members under 1 s.
Writes WORK/web.json, WORK = ${BENCH_DIR:-Benchmarks/work}/web.
USAGE
}

scale=1536M
members=100000
runs=5
do_build=1
while (($#)); do
    case "$1" in
        --scale) scale=${2:?--scale needs a value}; shift ;;
        --members) members=${2:?--members needs a value}; shift ;;
        --runs) runs=${2:?--runs needs a value}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
if ((do_build)); then build_modvault; else find_modvault; fi
WORK=${BENCH_DIR:-$BENCH_HOME/work}/web
mkdir -p "$WORK"
make_corpus "${BENCH_DIR:-$BENCH_HOME/work}" "$scale"

# The archive of N members in one folder, raw (uncompressed) members of 64 bytes each.
big=$WORK/big-archive
rm -rf "$big" && mkdir -p "$big"
python3 - "$big/Huge - Main.ba2" "$members" <<'PY'
import struct, sys
path, n = sys.argv[1], int(sys.argv[2])
table = [0] * 256
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
    table[i] = c
def h(text):
    c = 0
    for b in text.encode():
        if b > 0x7F:
            continue
        b = ord('\\') if b == ord('/') else (b + 32 if 65 <= b <= 90 else b)
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c
folder = "meshes\\huge"
names = [f"{folder}\\part{i:06d}.nif" for i in range(n)]
data_start = 24 + 36 * n
payload = b"x" * 64
entries = bytearray()
for i, name in enumerate(names):
    stem = name.rsplit("\\", 1)[1].rsplit(".", 1)[0]
    entries += struct.pack("<I4sIBBHQIII", h(stem), b"nif\0", h(folder), 0, 1, 16, data_start + 64 * i, 0, 64, 0xBAADF00D)
name_table = b"".join(struct.pack("<H", len(x)) + x.encode() for x in names)
with open(path, "wb") as f:
    f.write(b"BTDX" + struct.pack("<I", 1) + b"GNRL" + struct.pack("<IQ", n, data_start + 64 * n))
    f.write(entries)
    f.write(payload * n)
    f.write(name_table)
PY

repo=$WORK/repo
rm -rf "$repo"
export MODVAULT_REPO=$repo MODVAULT_PASSWORD=bench
log "snapshots of base and next ($scale) and the $members-member archive"
"$MODVAULT_BIN" init --quiet >/dev/null
"$MODVAULT_BIN" snapshot "$CORPUS_BASE" --quiet --tag base >/dev/null
"$MODVAULT_BIN" snapshot "$CORPUS_NEXT" --quiet --tag next >/dev/null
"$MODVAULT_BIN" snapshot "$big" --quiet --tag archive >/dev/null
ids=$("$MODVAULT_BIN" snapshots --json)
id_of() { python3 -c 'import json,sys; print(next(s["id"] for s in json.loads(sys.argv[1]) if sys.argv[2] in s["tags"]))' "$ids" "$1"; }
base_id=$(id_of base) next_id=$(id_of next) archive_id=$(id_of archive)

out=$WORK/serve.out
"$MODVAULT_BIN" serve --listen 127.0.0.1:0 >"$out" 2>"$WORK/serve.err" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s $out ]] && break; sleep 0.1; done
login=$(head -1 "$out")
[[ $login == http://127.0.0.1:* ]] || die "serve printed no address: $(cat "$WORK/serve.err")"
origin=${login%%/login*}
jar=$WORK/cookies
curl -s -o /dev/null -c "$jar" "$login"

# A deep folder of the corpus and a plugin that changes between base and next.
folder=$(curl -s -b "$jar" "$origin/api/v1/snapshots/$next_id/entries?path=mods" | python3 -c 'import json,sys; e=json.load(sys.stdin); print("mods/"+next(x["name"] for x in e if x["type"]=="folder"))')
plugin=$(curl -s -b "$jar" "$origin/api/v1/diff?from=$base_id&to=$next_id" | python3 -c 'import json,sys; print(next(c["path"] for c in json.load(sys.stdin) if c["path"].lower().endswith(".esp") and c["kind"]=="modified"))')
enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

declare -a names urls
add() { names+=("$1"); urls+=("$origin$2"); }
add "history page" "/"
add "browse page, top" "/browse/$next_id"
add "browse page, a mod folder" "/browse/$next_id?path=$(enc "$folder")"
add "changes page, base to next" "/diff?from=$base_id&to=$next_id"
add "inside page, changed plugin" "/inside/$next_id?path=$(enc "$plugin")"
add "versions page, changed plugin" "/file?path=$(enc "$plugin")"
add "repository page" "/repository"
add "sync page" "/sync"
add "team page" "/team"
add "jobs page" "/jobs"
add "API snapshots" "/api/v1/snapshots"
add "API diff" "/api/v1/diff?from=$base_id&to=$next_id"
add "inside page, $members members in one archive folder" "/inside/$archive_id?path=$(enc "Huge - Main.ba2")&folder=meshes/huge"
add "API inside, $members members" "/api/v1/snapshots/$archive_id/inside?path=$(enc "Huge - Main.ba2")&folder=meshes/huge"

results=$WORK/times.tsv
: >"$results"
for i in "${!names[@]}"; do
    times=()
    for _ in $(seq "$runs"); do
        t=$(curl -s -o /dev/null -b "$jar" -w '%{http_code} %{time_total}' "${urls[$i]}")
        [[ ${t%% *} == 200 ]] || die "${names[$i]}: HTTP ${t%% *} for ${urls[$i]}"
        times+=("${t##* }")
    done
    printf '%s\t%s\n' "${names[$i]}" "${times[*]}" >>"$results"
done

python3 - "$results" "$WORK/web.json" "$scale" "$members" "$runs" <<'PY'
import json, statistics, sys
rows, out = [], sys.argv[2]
for line in open(sys.argv[1]):
    name, times = line.rstrip("\n").split("\t")
    t = [float(x) * 1000 for x in times.split()]
    goal = 1000 if "members" in name else 300
    rows.append({"what": name, "median_ms": round(statistics.median(t), 1), "max_ms": round(max(t), 1), "goal_ms": goal,
                 "met": max(t) < goal})
json.dump({"scale": sys.argv[3], "members": int(sys.argv[4]), "runs": int(sys.argv[5]), "results": rows}, open(out, "w"), indent=1)
print(f"{'what':58} {'median':>9} {'slowest':>9} {'goal':>7}")
for r in rows:
    print(f"{r['what']:58} {r['median_ms']:>7.1f}ms {r['max_ms']:>7.1f}ms {r['goal_ms']:>5}ms {'met' if r['met'] else 'NOT MET'}")
PY
log "command: Benchmarks/web.sh --scale $scale --members $members --runs $runs; results in $WORK/web.json"
