#!/usr/bin/env python3
"""Writes the small synthetic seed inputs in Fuzz/seeds/ (committed; rerun only to change them).

The public samples in Fixtures/public are added by scripts/fuzz.sh at run time. These seeds cover
what the samples lack: small DDS files of several layouts, plugins with groups, compressed records
and oversize fields, and encoded recipes. Layouts follow docs/fallout4-formats.md.
"""
import os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))

def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# --- DDS ---------------------------------------------------------------------------------------
def dds(width, height, mips, fourcc=None, dx10=None, bits=32, cube=False, body=None):
    h = b"DDS " + struct.pack("<7I", 124, 0x000A1007, height, width, 0, 1, mips) + b"\0" * 44
    if fourcc or dx10:
        h += struct.pack("<II", 32, 0x4) + (b"DX10" if dx10 else fourcc.encode()) + b"\0" * 20
    else:
        h += struct.pack("<8I", 32, 0x41, 0, bits, 0xFF0000, 0xFF00, 0xFF, 0xFF000000)
    h += struct.pack("<5I", 0x401008, 0xFE00 if cube else 0, 0, 0, 0)
    if dx10:
        fmt, array = dx10
        h += struct.pack("<5I", fmt, 3, 4 if cube else 0, array, 1)
    return h + (body if body is not None else bytes((i * 7) & 0xFF for i in range(512)))

write("dds", "dxt1_16x16_5mips.dds", dds(16, 16, 5, fourcc="DXT1", body=bytes(8 * (16 + 4 + 1 + 1 + 1))))
write("dds", "dxt5_cube_8x8.dds", dds(8, 8, 4, fourcc="DXT5", cube=True, body=bytes(6 * 16 * (4 + 1 + 1 + 1))))
write("dds", "bc7_array2_8x4.dds", dds(8, 4, 2, dx10=(98, 2), body=bytes(2 * 16 * (2 + 1))))
write("dds", "rgba_5x3.dds", dds(5, 3, 2, bits=32, body=bytes(4 * (15 + 2)) + b"tail"))
write("dds", "rgb24_4x4.dds", dds(4, 4, 1, bits=24, body=bytes(48)))

# --- Plugins -----------------------------------------------------------------------------------
def field(sig, data):
    if len(data) > 0xFFFF:
        return b"XXXX" + struct.pack("<HI", 4, len(data)) + sig + struct.pack("<H", 0) + data
    return sig + struct.pack("<H", len(data)) + data

def record(sig, form_id, fields, flags=0, compress=False):
    data = b"".join(field(s, d) for s, d in fields)
    if compress:
        data = struct.pack("<I", len(data)) + zlib.compress(data, 6)
        flags |= 0x00040000
    return sig + struct.pack("<IIIHHHH", len(data), flags, form_id, 0, 0, 131, 0) + data

def group(label, children, gtype=0):
    body = b"".join(children)
    return b"GRUP" + struct.pack("<I", 24 + len(body)) + label + struct.pack("<iHHI", gtype, 0, 0, 0) + body

def tes4(flags=0, masters=(b"Fallout4.esm",)):
    fields = [(b"HEDR", struct.pack("<fII", 1.0, 3, 0x800)), (b"CNAM", b"DEFAULT\0")]
    for m in masters:
        fields += [(b"MAST", m + b"\0"), (b"DATA", b"\0" * 8)]
    fields.append((b"INTV", struct.pack("<I", 1)))
    return record(b"TES4", 0, fields, flags)

edid = lambda s: (b"EDID", s + b"\0")
write("plugin", "groups.esp", tes4() + group(b"GLOB", [record(b"GLOB", 0x01000800, [edid(b"Answer"), (b"FLTV", struct.pack("<f", 42))])])
      + group(b"CELL", [group(b"\0\0\0\0", [group(b"\0\0\0\0", [record(b"CELL", 0x01000801, [edid(b"Room")]),
            group(struct.pack("<I", 0x01000801), [record(b"REFR", 0x01000802, [(b"NAME", struct.pack("<I", 7))], 0x400)], 9)], 3)], 2)]))
write("plugin", "compressed.esm", tes4(0x1) + group(b"NPC_", [record(b"NPC_", 0x01000900, [edid(b"Npc"), (b"DATA", b"abc" * 40)], compress=True)]))
# XXXX gives the size of the next field, whose own u16 size is 0; any size works, so keep the seed small.
oversize = b"XXXX" + struct.pack("<HI", 4, 24) + b"VHGT" + struct.pack("<H", 0) + b"\1" * 24
land = b"LAND" + struct.pack("<IIIHHHH", len(oversize), 0, 0x00000A00, 0, 0, 131, 0) + oversize
write("plugin", "oversize.esl", tes4(0x201, ()) + group(b"LAND", [land]))

# --- BA2 ---------------------------------------------------------------------------------------
def ba2_hash(text):
    crc = 0
    for b in text:
        if b > 0x7F:
            continue
        b = 0x5C if b == 0x2F else (b + 32 if 0x41 <= b <= 0x5A else b)
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc

def ba2(kind, members, version=1, method=0, share=False):
    """members: (name, [(content, compress, first_mip, last_mip)], texture header or None)"""
    head = b"BTDX" + struct.pack("<I", version) + kind + struct.pack("<IQ", len(members), 0)
    if version in (2, 3):
        head += struct.pack("<Q", 1)
    if version == 3:
        head += struct.pack("<I", method)
    table_len = sum((36 if kind == b"GNRL" else 24 + 24 * len(c)) for _, c, _ in members)
    offset = len(head) + table_len
    table, blobs, first = b"", b"", None
    for name, chunks, tex in members:
        n = name.replace("/", "\\")
        d, _, f = n.rpartition("\\")
        stem, _, ext = f.rpartition(".")
        table += struct.pack("<I", ba2_hash(stem.encode())) + ext.encode()[:4].ljust(4, b"\0") + struct.pack("<IBBH", ba2_hash(d.encode()), 0, len(chunks), 0x10 if kind == b"GNRL" else 0x18)
        if tex:
            table += struct.pack("<HHBBBB", *tex)
        for content, compress, lo, hi in chunks:
            stored = zlib.compress(content, 6) if compress else content
            if share and first is not None:
                at = first
            else:
                at = offset + len(blobs)
                blobs += stored
                first = at if first is None else first
            table += struct.pack("<QII", at, len(stored) if compress else 0, len(content))
            if kind == b"DX10":
                table += struct.pack("<HH", lo, hi)
            table += struct.pack("<I", 0xBAADF00D)
    names = b"".join(struct.pack("<H", len(n)) + n.encode() for n, _, _ in members)
    data = bytearray(head + table + blobs + names)
    data[16:24] = struct.pack("<Q", len(head) + len(table) + len(blobs))
    return bytes(data)

text = b"the quick brown fox jumps over the lazy dog " * 20
write("ba2", "gnrl_v2.ba2", ba2(b"GNRL", [("a/b.txt", [(text, True, 0, 0)], None), ("c.txt", [(b"raw!", False, 0, 0)], None)], version=2))
write("ba2", "gnrl_v3_lz4.ba2", ba2(b"GNRL", [("x.txt", [(b"hello", False, 0, 0)], None)], version=3, method=3))
write("ba2", "gnrl_shared.ba2", ba2(b"GNRL", [("one.txt", [(text, True, 0, 0)], None), ("two.txt", [(text, True, 0, 0)], None)], share=True))
bc1 = lambda w, h: max(1, (w + 3) // 4) * max(1, (h + 3) // 4) * 8
write("ba2", "dx10_cube.ba2", ba2(b"DX10", [("textures/sky.dds", [(bytes(6 * (bc1(8, 8) + bc1(4, 4))), True, 0, 1)], (8, 8, 2, 71, 1, 8))]))
write("ba2", "dx10_two_chunks.ba2", ba2(b"DX10", [("t.dds", [(bytes(bc1(16, 16)), False, 0, 0), (bytes(bc1(8, 8) + bc1(4, 4)), True, 1, 2)], (16, 16, 3, 71, 0, 8))], version=8))

# --- Recipes (see Recipe.encoded) and zlib streams (3-byte declared size, then the stream) ---------
def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80); v >>= 7
    out.append(v)
    return bytes(out)

def recipe(level, wbits, raw, compressed, digest=bytes(32)):
    return bytes([1, 1, level, wbits, 8, 0]) + varint(raw) + varint(compressed) + b"\x04zlib" + b"\x061.2.13" + digest

write("recipe", "recipe_pc.bin", recipe(6, 15, 240000, 375))
write("recipe", "recipe_xbox.bin", recipe(9, 12, 0, 8))
for name, level, wbits in [("stream_pc.bin", 6, 15), ("stream_xbox.bin", 9, 12), ("stream_l1.bin", 1, 15)]:
    c = zlib.compressobj(level, zlib.DEFLATED, wbits)
    write("recipe", name, struct.pack("<I", len(text))[:3] + c.compress(text) + c.flush())
