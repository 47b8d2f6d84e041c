#!/usr/bin/env python3
"""Writes the seed corpus for npy_fuzzer into fuzz/corpus/npy/ (no NumPy needed).

A handful of valid .npy files in the layouts np.save writes (v1/v2/v3 headers,
float32/float64 matrices, integer id vectors, empty arrays) and a few invalid ones
that reach the reader's deeper checks (bad sizes, overflowing shapes, bad dicts).
"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "npy")


def npy(dict_text, payload, major=1):
    prefix = 10 if major == 1 else 12
    pad = (64 - (prefix + len(dict_text) + 1) % 64) % 64
    header = (dict_text + " " * pad + "\n").encode("latin1")
    length = struct.pack("<H", len(header)) if major == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([major, 0]) + length + header + payload


def d(descr, shape, fortran="False"):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


SEEDS = {
    # Valid.
    "valid_f4_3x2.npy": npy(d("<f4", "(3, 2)"), f32(1, 2, 3, 4, 5, 6)),
    "valid_f4_1d.npy": npy(d("<f4", "(4,)"), f32(0.5, -1, 2, 1e30)),
    "valid_f8_2x2.npy": npy(d("<f8", "(2, 2)"), struct.pack("<4d", 1.5, -2.25, 3.0, 1e10)),
    "valid_i8_ids.npy": npy(d("<i8", "(3,)"), struct.pack("<3q", 5, -1, 1 << 40)),
    "valid_i4_ids_nx1.npy": npy(d("<i4", "(3, 1)"), struct.pack("<3i", -1, 0, 7)),
    "valid_u4_ids.npy": npy(d("<u4", "(2,)"), struct.pack("<2I", 4000000000, 1)),
    "valid_u8_ids.npy": npy(d("<u8", "(2,)"), struct.pack("<2Q", 9, 1 << 62)),
    "valid_v2_f4.npy": npy(d("<f4", "(2, 2)"), f32(1, 2, 3, 4), major=2),
    "valid_v3_f4.npy": npy(d("<f4", "(1, 3)"), f32(7, 8, 9), major=3),
    "valid_empty_0x3.npy": npy(d("<f4", "(0, 3)"), b""),
    "valid_double_quotes.npy": npy('{"descr": "<f4", "fortran_order": False, "shape": (2,)}', f32(1, 2)),
    # Invalid.
    "bad_fortran.npy": npy(d("<f4", "(2, 2)", "True"), f32(1, 2, 3, 4)),
    "bad_truncated.npy": npy(d("<f4", "(3, 2)"), f32(1, 2, 3, 4)),
    "bad_too_long.npy": npy(d("<f4", "(1, 2)"), f32(1, 2, 3, 4)),
    "bad_wrap20.npy": npy(d("<f4", "(4611686018427387909, 4)"), f32(*range(20))),
    "bad_99_digits.npy": npy(d("<f8", "(" + "9" * 99 + ", 2)"), f32(1, 2, 3, 4)),
    "bad_zero_fill_16g.npy": npy(d("<f4", "(4294967296, 4294967297)"), f32(1, 2, 3, 4)),
    "bad_ids_wrap.npy": npy(d("<i8", "(2305843009213693953,)"), struct.pack("<q", 1)),
    "bad_header_len_past_end.npy": b"\x93NUMPY\x01\x00\xff\xff" + d("<f4", "(1,)").encode() + b"\n",
    "bad_garbage_dict.npy": npy("{'descr': <f4, 'shape': (2 2}", f32(1, 2)),
    "bad_non_ascii.npy": npy(d("<f4", "(2,)"), f32(1, 2)).replace(b"'shape'", b"'sh\xe9pe'"),
    "bad_structured.npy": npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f32(1, 2)),
}

if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), OUT))
