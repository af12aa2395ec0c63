#!/usr/bin/env bash
# Record-level plugin merge (issue 13): time and peak memory of `modvault merge-plugin` on a generated
# plugin of SIZE (default 50 MB), against the sum of its three inputs.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'USAGE'
Usage: Benchmarks/merge.sh [--size MB] [--no-build]

Generates three versions of one Fallout 4 plugin of about SIZE megabytes (default 50): a base of
GMST, KYWD and NPC_ records (a quarter of them zlib-compressed, as the Creation Kit stores large
records) in top-level groups, plus an interior cell with placed references; "ours" edits 1% of the
records and adds 200; "theirs" edits another 1%, deletes 100 and adds 200 more. Then runs
`modvault merge-plugin base ours theirs -o merged --json` under /usr/bin/time on one core
(taskset -c 0). Goal: under 2 s, and peak memory under 3x the three inputs.
A second run merges the same edits when each side also added a different master (ours
DLCRobot.esm, theirs DLCCoast.esm, each renumbering its own forms and naming forms of its new
master in the records it adds), so the three sides are first moved into the union of masters.
Writes WORK/merge.json, WORK = ${BENCH_DIR:-Benchmarks/work}/merge.
USAGE
}

size=50
do_build=1
while (($#)); do
    case "$1" in
        --size) size=${2:?--size needs a value}; shift ;;
        --no-build) do_build=0 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ $size =~ ^[1-9][0-9]*$ ]] || die "--size takes a whole number of megabytes"
if ((do_build)); then build_modvault; else find_modvault; fi
WORK=${BENCH_DIR:-$BENCH_HOME/work}/merge
mkdir -p "$WORK"

python3 - "$WORK" "$size" <<'PY'
import random, struct, sys, zlib
work, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261205)

def field(sig, data):
    return sig.encode() + struct.pack('<H', len(data)) + data

def record(sig, fid, data, compress=False):
    flags = 0
    if compress:
        data = struct.pack('<I', len(data)) + zlib.compress(data, 6)
        flags = 0x40000
    return sig.encode() + struct.pack('<IIIHHHH', len(data), flags, fid, 0, 0, 131, 0) + data

def group(label, gtype, body):
    lab = label.encode() if isinstance(label, str) else struct.pack('<I', label)
    return b'GRUP' + struct.pack('<I', 24 + len(body)) + lab + struct.pack('<iHHI', gtype, 0, 0, 0) + body

def words(n):
    return bytes(rng.choice(b'abcdefghijklmnopqrstuvwxyz ') for _ in range(n))

target = size_mb * 1_000_000
records = {}   # fid -> (sig, fields bytes, compressed)
fid = 0x01000800
total = 0
while total < target:
    kind = rng.random()
    if kind < 0.3:
        sig, data = 'GMST', field('EDID', b'fSetting%d\0' % fid) + field('DATA', struct.pack('<f', rng.random()))
    elif kind < 0.5:
        sig, data = 'KYWD', field('EDID', b'kw%d\0' % fid) + field('CNAM', struct.pack('<I', rng.getrandbits(24)))
    else:
        sig, data = 'NPC_', field('EDID', b'Npc%d\0' % fid) + field('FULL', words(20) + b'\0') + field('DATA', words(rng.randint(400, 3000)))
    records[fid] = (sig, data, sig == 'NPC_' and rng.random() < 0.5)
    total += len(data) + 24
    fid += 1
cell_id = fid
fid += 1
refs = {}
for i in range(2000):
    refs[fid] = field('NAME', struct.pack('<I', 0x00012345)) + field('DATA', struct.pack('<6f', *[rng.random() for _ in range(6)]))
    fid += 1
next_id = fid

def build(records, refs, next_id, masters=('Fallout4.esm',)):
    # An editor that adds masters renumbers the plugin's own forms to the index after the last one.
    own = len(masters) << 24
    move = lambda f: own | (f & 0xFFFFFF) if f >> 24 == 1 else f
    records = {move(f): (sig, data.replace(b'@SLF', struct.pack('<I', own | 0x800)), comp) for f, (sig, data, comp) in records.items()}
    refs = {move(f): d for f, d in refs.items()}
    cell_id_here = move(cell_id)
    by_sig = {}
    for f in sorted(records):
        sig, data, comp = records[f]
        by_sig.setdefault(sig, []).append(record(sig, f, data, comp))
    body = b''.join(group(sig, 0, b''.join(recs)) for sig, recs in sorted(by_sig.items()))
    ref_body = b''.join(record('REFR', f, d) for f, d in sorted(refs.items()))
    cell = record('CELL', cell_id_here, field('EDID', b'BenchCell\0'))
    body += group('CELL', 0, group(0, 2, group(0, 3, cell + group(cell_id_here, 6, group(cell_id_here, 8, ref_body)))))
    count = body.count(b'GRUP') + len(records) + len(refs) + 1
    hedr = field('HEDR', struct.pack('<fII', 1.0, count, next_id))
    mast = b''.join(field('MAST', m.encode() + b'\0') + field('DATA', bytes(8)) for m in masters)
    tes4 = hedr + field('CNAM', b'DEFAULT\0') + mast + field('INTV', struct.pack('<I', 1))
    return record('TES4', 0, tes4) + body

def edit(recs, share, adds, deletes, start, half, names_master=False):
    out = dict(recs)
    keys = sorted(out)
    # Each side edits its own half, so the two sides never touch one record.
    keys = keys[:len(keys) // 2] if half == 0 else keys[len(keys) // 2:]
    for f in rng.sample(keys, int(len(keys) * share)):
        sig, data, comp = out[f]
        out[f] = (sig, data + field('XNAM', words(8)), comp)
    for f in rng.sample(keys, deletes):
        out.pop(f, None)
    for i in range(adds):
        # With a new master, the added records name one of its forms (index 1) and one of the plugin's own.
        extra = field('KNAM', struct.pack('<I', 0x01000800 + i)) + field('LNAM', b'@SLF') if names_master else b''
        out[start + i] = ('KYWD', field('EDID', b'added%d\0' % (start + i)) + extra, False)
    return out

base = build(records, refs, next_id)
ours = build(edit(records, 0.02, 200, 0, next_id, 0), refs, next_id + 200)
theirs = build(edit(records, 0.02, 200, 100, next_id + 200, 1), refs, next_id + 400)
ours_m = build(edit(records, 0.02, 200, 0, next_id, 0, True), refs, next_id + 200, ('Fallout4.esm', 'DLCRobot.esm'))
theirs_m = build(edit(records, 0.02, 200, 100, next_id + 200, 1, True), refs, next_id + 400, ('Fallout4.esm', 'DLCCoast.esm'))
for name, data in (('base', base), ('ours', ours), ('theirs', theirs), ('ours-masters', ours_m), ('theirs-masters', theirs_m)):
    open(f'{work}/{name}.esp', 'wb').write(data)
print(f'{len(records)} records, base {len(base)} bytes')
PY

inputs=$(( $(stat -c %s "$WORK/base.esp") + $(stat -c %s "$WORK/ours.esp") + $(stat -c %s "$WORK/theirs.esp") ))
measure "$WORK/logs" merge taskset -c 0 "$MODVAULT_BIN" merge-plugin "$WORK/base.esp" "$WORK/ours.esp" "$WORK/theirs.esp" -o "$WORK/merged.esp" --json
result=$(tail -n 1 "$WORK/logs/merge.out")
rss_mib=$(kib_to_mib "$M_RSS_KIB")
ratio_mem=$(awk -v r="$M_RSS_KIB" -v i="$inputs" 'BEGIN { printf "%.2f\n", r * 1024 / i }')
printf '{"size_mb": %s, "inputs_bytes": %s, "seconds": %s, "peak_rss_mib": %s, "rss_over_inputs": %s, "result": %s}\n' \
    "$size" "$inputs" "$M_SECS" "$rss_mib" "$ratio_mem" "$result" | tee "$WORK/merge.json"
printf '\nmerge-plugin on %s MB: %s s on one core (goal < 2), peak %s MiB = %sx the inputs (goal < 3)\n' "$size" "$M_SECS" "$rss_mib" "$ratio_mem"

inputs=$(( $(stat -c %s "$WORK/base.esp") + $(stat -c %s "$WORK/ours-masters.esp") + $(stat -c %s "$WORK/theirs-masters.esp") ))
measure "$WORK/logs" merge-masters taskset -c 0 "$MODVAULT_BIN" merge-plugin "$WORK/base.esp" "$WORK/ours-masters.esp" "$WORK/theirs-masters.esp" \
    -o "$WORK/merged-masters.esp" --json
result=$(tail -n 1 "$WORK/logs/merge-masters.out")
rss_mib=$(kib_to_mib "$M_RSS_KIB")
ratio_mem=$(awk -v r="$M_RSS_KIB" -v i="$inputs" 'BEGIN { printf "%.2f\n", r * 1024 / i }')
printf '{"size_mb": %s, "inputs_bytes": %s, "seconds": %s, "peak_rss_mib": %s, "rss_over_inputs": %s, "result": %s}\n' \
    "$size" "$inputs" "$M_SECS" "$rss_mib" "$ratio_mem" "$result" | tee "$WORK/merge-masters.json"
printf '\nwith a master added on each side: %s s on one core, peak %s MiB = %sx the inputs\n' "$M_SECS" "$rss_mib" "$ratio_mem"
