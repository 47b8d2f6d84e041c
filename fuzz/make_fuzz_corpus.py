#!/usr/bin/env python3
"""Writes the seed corpora of the fuzzers other than npy_fuzzer (make_npy_corpus.py)
into fuzz/corpus/<target>/: a few valid inputs of each format and a few invalid ones
that reach the deeper checks. Standard library only; deterministic output."""
import gzip
import io
import json
import os
import struct
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, seeds):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def gz(b):
    return gzip.compress(b, mtime=0)


# ---- idx: magic 00 00 08 <rank>, big-endian u32 dims, u8 data
def idx(dims, data=None, elem=8):
    n = 1
    for x in dims:
        n *= x
    if data is None:
        data = bytes(i % 256 for i in range(n))
    return bytes([0, 0, elem, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + data


write("idx", {
    "valid_labels.idx": idx([5], bytes([0, 1, 2, 9, 3])),
    "valid_images.idx": idx([2, 3, 3]),
    "valid_images.idx.gz": gz(idx([2, 4, 4])),
    "valid_rank4.idx": idx([1, 2, 2, 2]),
    "bad_magic.idx": b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00",
    "bad_type.idx": idx([2], b"\x00\x00\x00\x00\x00\x00\x00\x00", elem=0x0D),
    "bad_truncated.idx": idx([3, 4, 4])[:30],
    "bad_trailing.idx": idx([2]) + b"xx",
    "bad_zero_dim.idx": idx([2, 0, 3], b""),
    "bad_4gib.idx": bytes([0, 0, 8, 3]) + struct.pack(">3I", 65536, 65536, 1) + b"\x00" * 8,
    "bad_over_4gib.idx": bytes([0, 0, 8, 2]) + struct.pack(">2I", 0xFFFFFFFF, 0xFFFFFFFF),
    "bad_gzip_damaged.idx.gz": gz(idx([2, 3, 3]))[:-6] + b"\x00" * 6,
    "bad_gzip_truncated.idx.gz": gz(idx([2, 3, 3]))[:20],
})

# ---- index specs
write("index_spec", {f"spec_{i}": s.encode() for i, s in enumerate([
    "Flat", "HNSW32", "HNSW32,Flat", "hnsw8, flat", "IVF256,Flat", "IVF1024,SQ8", "IVF256,PQ16", " ivf4 , pq8 ",
    "IVF4", "HNSW1", "HNSW257", "IVF0", "IVF99999999", "IVF4,PQ0", "IVF4,PQ99999999999", "IVF4,PQ0016", "Flat,",
    "HNSW", "", "\tFlat\n"])})

# ---- stored records: first byte picks the decoder (records_fuzzer.cpp)
def matrix(rows, cols, vals=None):
    vals = vals if vals is not None else [float(i) for i in range(rows * cols)]
    return struct.pack("<QQ", rows, cols) + struct.pack("<%df" % len(vals), *vals)


def item(model, rep, payload=b""):
    return struct.pack("<I", len(model)) + model + struct.pack("<I", len(rep)) + struct.pack("<%df" % len(rep), *rep) + payload


model_json = json.dumps({"name": "A", "latent_dim": 6, "output_dim": 12, "distance": "euclidean",
                         "has_encoder": False, "map_bytes": 1234}, separators=(",", ":")).encode()
coll_json = json.dumps({"name": "items", "cid": 1, "anchor_set": "S", "index": "HNSW32", "steps": 8,
                        "mode": "length", "K": 16}, separators=(",", ":")).encode()
write("records", {
    "matrix_2x3": b"\x00" + matrix(2, 3),
    "matrix_0x4": b"\x00" + matrix(0, 4, []),
    "matrix_bad_size": b"\x00" + struct.pack("<QQ", 1 << 40, 1 << 40) + b"\x00" * 8,
    "item_A": b"\x01" + item(b"A", [1.0, 2.0, 3.0], b"payload"),
    "item_empty": b"\x01" + item(b"", []),
    "item_truncated": b"\x01" + item(b"model", [1.0, 2.0])[:-3],
    "item_huge_len": b"\x01" + struct.pack("<I", 0xFFFFFFFF) + b"x",
    "state": b"\x02" + struct.pack("<QQ", 7, 100),
    "state_short": b"\x02" + struct.pack("<Q", 7),
    "anchors": b"\x03" + struct.pack("<Q", 3) + struct.pack("<3q", 5, -1, 1 << 40),
    "anchors_bad_count": b"\x03" + struct.pack("<Q", 1 << 61) + struct.pack("<q", 1),
    "model": b"\x04" + model_json,
    "model_bad_distance": b"\x04" + model_json.replace(b"euclidean", b"manhattan"),
    "model_wrong_type": b"\x04" + model_json.replace(b"6", b"\"6\"", 1),
    "collection": b"\x05" + coll_json,
    "collection_big_cid": b"\x05" + coll_json.replace(b"\"cid\":1", b"\"cid\":99999999999"),
    "collection_bad_mode": b"\x05" + coll_json.replace(b"length", b"width"),
    "collection_not_json": b"\x05" + b"{\"name\": [1, 2, {",
})

# ---- index files: magic, u64 version, u64 sequence, u32 crc32(body), u64 size, body
def index_file(body, version=3, seq=42, crc=None, size=None):
    crc = zlib.crc32(body) if crc is None else crc
    size = len(body) if size is None else size
    return b"RGIDX001" + struct.pack("<QQIQ", version, seq, crc, size) + body


rgvi = b"RGVI0001" + struct.pack("<Q", 4) + b"Flat" + struct.pack("<Q", 4) + b"IxM2"
write("index_file", {
    "valid_flat": index_file(rgvi),
    "valid_empty_body": index_file(b""),
    "bad_crc": index_file(rgvi, crc=1),
    "bad_size": index_file(rgvi, size=len(rgvi) + 1),
    "bad_size_huge": index_file(rgvi, size=(1 << 64) - 1),
    "bad_magic": b"RGIDX002" + index_file(rgvi)[8:],
    "truncated": index_file(rgvi)[:20],
})

# ---- TorchScript archives: the ZIP layout torch.jit.save writes (stored records under
# archive/, ZIP64 end records), and damaged variants.
def torch_zip(names=("data.pkl", "constants.pkl", "version", "code/__torch__.py"), zip64=True, comment=b""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for n in names:
            z.writestr("archive/" + n, b"\x80\x02}q\x00." if n.endswith(".pkl") else b"3\n")
        z.comment = comment
    b = buf.getvalue()
    if not zip64:
        return b
    eocd = b.rfind(b"PK\x05\x06")
    entries, cd_size, cd_off = struct.unpack("<HII", b[eocd + 10:eocd + 20])
    rec = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, entries, entries, cd_size, cd_off)
    loc = b"PK\x06\x07" + struct.pack("<IQI", 0, eocd, 1)
    return b[:eocd] + rec + loc + b[eocd:]


good = torch_zip()
write("torchscript_archive", {
    "valid_zip64": good,
    "valid_plain_zip": torch_zip(zip64=False),
    "valid_comment": torch_zip(comment=b"hello"),
    "bad_no_data_pkl": torch_zip(names=("constants.pkl", "version")),
    "bad_truncated": good[:-30],
    "bad_cd_offset": good[:-6] + struct.pack("<I", 0x7FFFFFFF) + good[-2:],
    "bad_locator": good[:-42] + struct.pack("<Q", 1 << 40) + good[-34:],
    "bad_pk_zeros": b"PK\x03\x04" + b"\x00" * 100,
    "bad_not_zip": b"definitely not a zip archive",
})
