#!/usr/bin/env python3
"""make_corpus.py - writes kvq's test files for the .npy and .safetensors readers.

  tools/make_corpus.py [--bad DIR] [--good DIR]

--bad DIR (default tests/data/bad): small malformed or unusable files, one per
  failure mode, and DIR/MANIFEST: "<file>\t<substring the error must contain>".
  Needs only the Python standard library; the files are committed, so the build
  never runs this script.
--good DIR (default tests/data/good): well-formed fixtures. The .npy files are
  written by NumPy itself and the F32/F16 .safetensors by the safetensors
  package when they are installed (the BF16 file is always written here: NumPy
  has no bfloat16); otherwise everything is written by this script following
  the same format rules. Values are v[i] = ((37*i) % 101 - 50) / 8 over the
  flattened array (exact in every dtype used), which tests/test_npy.c and
  tests/test_safetensors.c recompute.
"""
import argparse
import json
import os
import struct


def value(i):
    """The fixture value of flat element i."""
    return ((37 * i) % 101 - 50) / 8.0


def f32_bytes(vals):
    return struct.pack("<%df" % len(vals), *vals)


def f16_bytes(vals):
    return struct.pack("<%de" % len(vals), *vals)


def f64_bytes(vals):
    return struct.pack("<%dd" % len(vals), *vals)


def bf16_bytes(vals):
    """bfloat16 = the upper 16 bits of float32 (the values are exact)."""
    out = bytearray()
    for v in vals:
        (w,) = struct.unpack("<I", struct.pack("<f", v))
        assert w & 0xFFFF == 0, "value not exact in bfloat16"
        out += struct.pack("<H", w >> 16)
    return bytes(out)


def npy(header, data=b"", version=(1, 0), pad=True):
    """An .npy image with the given header text, padded as NumPy pads it:
    spaces then a newline so the data starts at a multiple of 64."""
    if isinstance(header, bytes):
        h = header
    else:
        h = header.encode("latin1") if version < (3, 0) else header.encode("utf8")
    pre = 10 if version[0] == 1 else 12
    if pad:
        total = (pre + len(h) + 1 + 63) // 64 * 64
        h = h + b" " * (total - pre - len(h) - 1) + b"\n"
    ln = struct.pack("<H", len(h)) if version[0] == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + ln + h + data


def npy_hdr(descr="'<f4'", fortran="False", shape="(2, 16)"):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def st(header, data=b"", hlen=None):
    """A .safetensors image: u64 header length, header (str or dict), data."""
    if not isinstance(header, (str, bytes)):
        header = json.dumps(header, separators=(",", ":"))
    h = header.encode("utf8") if isinstance(header, str) else header
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def st_tensors(tensors):
    """Header dict and data for [(name, dtype, shape, bytes)] laid out in order."""
    hdr, data = {}, b""
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    return hdr, data


def vals(n, start=0):
    return [value(i) for i in range(start, start + n)]


def bad_files():
    """(file name, bytes, expected error substring) for every bad input."""
    f = []
    good32 = f32_bytes(vals(32))
    add = lambda name, b, msg: f.append((name, b, msg))
    # ---- .npy: structure ----
    add("npy_empty.npy", b"", "only 0 bytes")
    add("npy_truncated_magic.npy", b"\x93NUM", "only 4 bytes")
    add("npy_bad_magic.npy", b"\x93NUMPZ" + npy(npy_hdr(), good32)[6:], "bad magic")
    add("npy_bad_version.npy", npy(npy_hdr(), good32, version=(4, 0)), "npy version 4.0")
    add("npy_bad_minor.npy", npy(npy_hdr(), good32, version=(1, 1)), "npy version 1.1")
    add("npy_hlen_past_eof.npy", b"\x93NUMPY\x01\x00\xe8\x03{'descr': '<f4'", "runs past the end of the file")
    add("npy_hlen_huge_v2.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}", "exceeds kvq's limit")
    add("npy_v2_truncated.npy", b"\x93NUMPY\x02\x00\x10\x00", "file is truncated")
    add("npy_non_dict.npy", npy("[1, 2]", good32), "not a Python dict")
    add("npy_missing_shape.npy", npy("{'descr': '<f4', 'fortran_order': False}", good32), "missing key 'shape'")
    add("npy_missing_descr.npy", npy("{'fortran_order': False, 'shape': (2, 16)}", good32), "missing key 'descr'")
    add("npy_missing_fortran.npy", npy("{'descr': '<f4', 'shape': (2, 16)}", good32), "missing key 'fortran_order'")
    add("npy_extra_key.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16), 'x': 1}", good32),
        "unexpected key 'x'")
    add("npy_dup_key.npy", npy("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 16)}", good32),
        "duplicate key 'descr'")
    add("npy_key_not_string.npy", npy("{1: '<f4'}", good32), "dict key is not a string")
    add("npy_unterminated_dict.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 16)", good32),
        "unterminated dict")
    add("npy_unterminated_string.npy", npy("{'descr': '<f4", good32),
        "unterminated string")
    add("npy_text_after_dict.npy", npy(npy_hdr() + " junk", good32), "text after the dict")
    add("npy_nul_in_header.npy", npy(npy_hdr() + "\0", good32), "NUL byte")
    add("npy_bad_utf8_v3.npy", npy(b"{'descr': '<f4\xff', 'fortran_order': False, 'shape': (2, 16), }",
                                   good32, version=(3, 0)), "invalid UTF-8")
    # ---- .npy: dtype, order, shape ----
    add("npy_descr_int.npy", npy(npy_hdr(descr="'<i4'"), good32), "'<i4', an unsupported dtype")
    add("npy_descr_structured.npy", npy(npy_hdr(descr="[('a', '<f4'), ('b', '<f4')]"), good32),
        "structured dtype")
    add("npy_big_endian.npy", npy(npy_hdr(descr="'>f4'"), struct.pack(">32f", *vals(32))), "big-endian")
    add("npy_descr_not_string.npy", npy(npy_hdr(descr="5"), good32), "'descr' is not a string")
    add("npy_fortran.npy", npy(npy_hdr(fortran="True"), good32), "'fortran_order' is True")
    add("npy_fortran_bad.npy", npy(npy_hdr(fortran="'no'"), good32), "not True or False")
    add("npy_shape_negative.npy", npy(npy_hdr(shape="(-1, 16)"), good32), "negative dimension")
    add("npy_shape_overflow.npy", npy(npy_hdr(shape="(4294967296, 4294967296, 16)"), good32), "overflows")
    add("npy_shape_huge_int.npy", npy(npy_hdr(shape="(123456789012345678901234567890, 16)"), good32),
        "too large")
    add("npy_shape_float.npy", npy(npy_hdr(shape="(2.0, 16)"), good32), "non-integer")
    add("npy_shape_word.npy", npy(npy_hdr(shape="(two, 16)"), good32), "non-integer")
    add("npy_shape_list.npy", npy(npy_hdr(shape="[2, 16]"), good32), "'shape' is not a tuple")
    add("npy_shape_paren_int.npy", npy(npy_hdr(shape="(32)"), good32), "'shape' is not a tuple")
    add("npy_short_data.npy", npy(npy_hdr(shape="(4, 16)"), good32), "data is truncated")
    add("npy_trailing_data.npy", npy(npy_hdr(), good32 + b"\0" * 8), "8 unexpected bytes after the data")
    add("npy_5d.npy", npy(npy_hdr(shape="(1, 1, 1, 2, 16)"), good32), "kvq reads at most 4")
    # ---- .npy: readable but not a valid K/V ----
    add("npy_1d.npy", npy(npy_hdr(shape="(32,)"), good32), "has 1 dimensions")
    add("npy_0d.npy", npy(npy_hdr(shape="()"), f32_bytes([1.0])), "has 0 dimensions")
    add("npy_zero_rows.npy", npy(npy_hdr(shape="(0, 16)")), "is empty")
    add("npy_dim_too_large.npy", npy(npy_hdr(shape="(1, 1040)"), f32_bytes(vals(1040))),
        "d = 1040 is outside 16..1024")
    add("npy_dim_too_small.npy", npy(npy_hdr(shape="(4, 8)"), good32), "d = 8 is outside 16..1024")
    add("npy_nan.npy", npy(npy_hdr(), f32_bytes(vals(20) + [float("nan")] + vals(11))),
        "element 20 (index [1, 4]) is NaN")
    add("npy_inf_f2.npy", npy(npy_hdr(descr="'<f2'"), f16_bytes(vals(3) + [float("-inf")] + vals(28))),
        "element 3 (index [0, 3]) is -Inf")
    add("npy_f8_overflow.npy", npy(npy_hdr(descr="'<f8'"), f64_bytes(vals(31) + [1e300])),
        "element 31 (index [1, 15]) is +Inf")
    # ---- .safetensors: structure ----
    k = f32_bytes(vals(32))
    kv_hdr, kv_data = st_tensors([("k", "F32", [2, 16], k), ("v", "F32", [2, 16], k)])
    add("st_empty.safetensors", b"", "only 0 bytes")
    add("st_short.safetensors", b"\x10\x00\x00", "only 3 bytes")
    add("st_hlen_past_eof.safetensors", st('{"k":', hlen=1000), "runs past the end of the file")
    add("st_hlen_huge.safetensors", st("{}", hlen=1 << 63), "exceeds the format's 100 MB limit")
    add("st_not_json.safetensors", st("{abc}"), "expected a string at byte 1")
    add("st_not_object.safetensors", st("[1,2]"), "the header is not a JSON object")
    add("st_empty_header.safetensors", st(""), "the header is not a JSON object")
    add("st_trailing_garbage.safetensors", st(json.dumps(kv_hdr) + " x", kv_data), "trailing characters")
    add("st_trailing_comma.safetensors", st(json.dumps(kv_hdr)[:-1] + ",}", kv_data), "expected a string")
    add("st_unterminated.safetensors", st(json.dumps(kv_hdr)[:-1]), "expected ',' or '}'")
    add("st_bad_utf8.safetensors", st(b'{"\xc0\xafk":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
        "invalid UTF-8")
    add("st_lone_surrogate.safetensors", st('{"\\ud800k":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
        "lone high surrogate")
    add("st_bad_escape.safetensors", st('{"\\qk":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
        "bad escape")
    add("st_control_char.safetensors", st('{"a\tb":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'),
        "control character in string")
    add("st_deep_nesting.safetensors",
        st('{"k":{"dtype":"F32","shape":[0],"data_offsets":[0,0],"x":' + "[" * 200 + "]" * 200 + "}}"),
        "nesting too deep")
    add("st_tensor_not_object.safetensors", st('{"k":5}'), "tensor info is not an object")
    # ---- .safetensors: keys and values ----
    add("st_unknown_dtype.safetensors",
        st({"k": {"dtype": "F13", "shape": [2, 16], "data_offsets": [0, 128]}}, k), "unknown dtype 'F13'")
    add("st_dtype_not_string.safetensors",
        st({"k": {"dtype": 32, "shape": [2, 16], "data_offsets": [0, 128]}}, k), "'dtype' is not a string")
    add("st_dup_tensor.safetensors",
        st('{"k":{"dtype":"F32","shape":[2,16],"data_offsets":[0,128]},'
           '"k":{"dtype":"F32","shape":[2,16],"data_offsets":[128,256]}}', k + k), "duplicate key 'k'")
    add("st_dup_field.safetensors",
        st('{"k":{"dtype":"F32","dtype":"F32","shape":[2,16],"data_offsets":[0,128]}}', k),
        "duplicate key 'dtype' in tensor 'k'")
    add("st_dup_metadata.safetensors",
        st('{"__metadata__":{"a":"1","a":"2"},"k":{"dtype":"F32","shape":[2,16],"data_offsets":[0,128]}}', k),
        "duplicate key 'a' in '__metadata__'")
    add("st_meta_not_string.safetensors",
        st('{"__metadata__":{"a":1},"k":{"dtype":"F32","shape":[2,16],"data_offsets":[0,128]}}', k),
        "'__metadata__' value is not a string")
    add("st_missing_shape.safetensors", st({"k": {"dtype": "F32", "data_offsets": [0, 128]}}, k),
        "tensor 'k' has no 'shape'")
    add("st_missing_offsets.safetensors", st({"k": {"dtype": "F32", "shape": [2, 16]}}, k),
        "tensor 'k' has no 'data_offsets'")
    add("st_offsets_three.safetensors",
        st({"k": {"dtype": "F32", "shape": [2, 16], "data_offsets": [0, 64, 128]}}, k), "exactly two")
    add("st_negative_offset.safetensors",
        st({"k": {"dtype": "F32", "shape": [2, 16], "data_offsets": [-128, 0]}}, k), "negative offset")
    add("st_float_shape.safetensors",
        st({"k": {"dtype": "F32", "shape": [2.0, 16], "data_offsets": [0, 128]}}, k),
        "dimension in 'shape' is not an integer")
    add("st_leading_zero.safetensors",
        st('{"k":{"dtype":"F32","shape":[2,16],"data_offsets":[00,128]}}', k), "offset is not an integer")
    add("st_shape_overflow.safetensors",
        st({"k": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 128]}}, k),
        "'shape' overflows")
    add("st_bytes_overflow.safetensors",
        st({"k": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 128]}}, k),
        "shape overflows (too many bytes)")
    # ---- .safetensors: layout ----
    add("st_reversed_offsets.safetensors",
        st({"k": {"dtype": "F32", "shape": [0], "data_offsets": [128, 0]}}, k), "end before they begin")
    add("st_size_mismatch.safetensors",
        st({"k": {"dtype": "F32", "shape": [2, 16], "data_offsets": [0, 64]}}, k[:64]), "size mismatch")
    add("st_overlap.safetensors",
        st({"k": {"dtype": "F32", "shape": [2, 16], "data_offsets": [0, 128]},
            "v": {"dtype": "F32", "shape": [2, 16], "data_offsets": [64, 192]}}, k + k[:64]),
        "overlaps another tensor")
    add("st_gap.safetensors",
        st({"k": {"dtype": "F32", "shape": [2, 16], "data_offsets": [0, 128]},
            "v": {"dtype": "F32", "shape": [2, 16], "data_offsets": [136, 264]}}, k + bytes(8) + k),
        "gap in the data")
    add("st_not_from_zero.safetensors",
        st({"k": {"dtype": "F32", "shape": [2, 16], "data_offsets": [8, 136]}}, bytes(8) + k),
        "begin at 8, expected 0")
    add("st_data_short.safetensors", st(kv_hdr, kv_data[:-4]), "ends at byte 256 but the file has 252")
    add("st_data_extra.safetensors", st(kv_hdr, kv_data + bytes(4)), "ends at byte 256 but the file has 260")
    add("st_no_tensors.safetensors", st("{}"), "no tensor named 'k' (the file has none)")
    # ---- .safetensors: valid files kvq cannot use ----
    add("st_missing_v.safetensors", st(*st_tensors([("k", "F32", [2, 16], k)])), "no tensor named 'v'")
    add("st_int_dtype.safetensors",
        st(*st_tensors([("k", "I32", [2, 16], k), ("v", "F32", [2, 16], k)])), "dtype I32; kvq reads")
    add("st_6d.safetensors",
        st(*st_tensors([("k", "F32", [1, 1, 1, 1, 2, 16], k), ("v", "F32", [2, 16], k)])),
        "has 6 dimensions; kvq reads at most 4")
    add("st_nan.safetensors",
        st(*st_tensors([("k", "F32", [2, 16], k), ("v", "F32", [2, 16], f32_bytes(vals(5) + [float("nan")] + vals(26)))])),
        "V: element 5 (index [0, 5]) is NaN")
    add("st_bf16_inf.safetensors",
        st(*st_tensors([("k", "BF16", [2, 16], bf16_bytes(vals(17)) + struct.pack("<H", 0x7F80) + bf16_bytes(vals(14))),
                        ("v", "F32", [2, 16], k)])), "K: element 17 (index [1, 1]) is +Inf")
    add("st_kv_mismatch.safetensors",
        st(*st_tensors([("k", "F32", [2, 16], k), ("v", "F32", [1, 16], k[:64])])), "V has 1 heads x 1 vectors")
    add("st_q_dim_mismatch.safetensors",
        st(*st_tensors([("k", "F32", [2, 16], k), ("v", "F32", [2, 16], k),
                        ("q", "F32", [1, 32], k)])), "Q has 1 heads x 32 dims")
    big = f32_bytes(vals(1040))
    add("st_dim_too_large.safetensors",
        st(*st_tensors([("k", "F32", [1, 1040], big), ("v", "F32", [1, 1040], big)])),
        "d = 1040 is outside 16..1024")
    add("st_1d.safetensors",
        st(*st_tensors([("k", "F32", [32], k), ("v", "F32", [32], k)])), "K: shape [32] has 1 dimensions")
    return f


def write_bad(d):
    os.makedirs(d, exist_ok=True)
    files = bad_files()
    names = [n for n, _, _ in files]
    assert len(names) == len(set(names)), "duplicate corpus file names"
    for name, data, _ in files:
        with open(os.path.join(d, name), "wb") as fh:
            fh.write(data)
    with open(os.path.join(d, "MANIFEST"), "w") as fh:
        fh.write("# file<TAB>substring that kvq's error message for it must contain "
                 "(written by tools/make_corpus.py)\n")
        for name, _, msg in files:
            fh.write("%s\t%s\n" % (name, msg))
    print("wrote %d bad files to %s" % (len(files), d))


def write(path, data):
    with open(path, "wb") as fh:
        fh.write(data)


def good_npy_manual(d):
    """The .npy fixtures written by hand (same format rules as NumPy)."""
    write(os.path.join(d, "f4_2d.npy"), npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 16), }", f32_bytes(vals(80))))
    write(os.path.join(d, "f2_3d.npy"), npy("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3, 16), }", f16_bytes(vals(96))))
    write(os.path.join(d, "f8_4d.npy"), npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 4, 16), }", f64_bytes(vals(128))))
    write(os.path.join(d, "f4_v2.npy"), npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 16), }", f32_bytes(vals(48)), version=(2, 0)))
    write(os.path.join(d, "f4_v3.npy"), npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 16), }", f32_bytes(vals(48)), version=(3, 0)))
    write(os.path.join(d, "f4_0d.npy"), npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32_bytes(vals(1))))
    write(os.path.join(d, "f4_empty.npy"), npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 16), }"))
    write(os.path.join(d, "f4_1d_fortran.npy"), npy("{'descr': '<f4', 'fortran_order': True, 'shape': (7,), }", f32_bytes(vals(7))))


def good_npy_numpy(d, np):
    """The .npy fixtures written by NumPy's own writer."""
    def arr(shape, dt):
        n = 1
        for s in shape:
            n *= s
        return np.array(vals(n), dtype=dt).reshape(shape)
    np.save(os.path.join(d, "f4_2d.npy"), arr((5, 16), "<f4"))
    np.save(os.path.join(d, "f2_3d.npy"), arr((2, 3, 16), "<f2"))
    np.save(os.path.join(d, "f8_4d.npy"), arr((1, 2, 4, 16), "<f8"))
    for ver, name in (((2, 0), "f4_v2.npy"), ((3, 0), "f4_v3.npy")):
        with open(os.path.join(d, name), "wb") as fh:
            np.lib.format.write_array(fh, arr((3, 16), "<f4"), version=ver)
    np.save(os.path.join(d, "f4_0d.npy"), np.array(value(0), dtype="<f4"))
    np.save(os.path.join(d, "f4_empty.npy"), np.zeros((0, 16), dtype="<f4"))
    np.save(os.path.join(d, "f4_1d_fortran.npy"), np.asfortranarray(arr((7,), "<f4")))
    # A hand-edited but legal header: other key order, double quotes, no
    # trailing comma, extra spaces (what another writer might produce).
    write(os.path.join(d, "f4_keyorder.npy"),
          npy('{"shape": ( 3 ,16 ) ,"fortran_order":False,"descr":"<f4"}', f32_bytes(vals(48))))


def good_safetensors(d, have_st):
    """F32 [H,N,d] with Q (GQA: 2x the heads), F16 [N,d], BF16 [H,N,d]; extra tensors."""
    h, n, dim = 2, 8, 16
    e = h * n * dim
    tensors_f32 = [("k", "F32", [h, n, dim], f32_bytes(vals(e))),
                   ("v", "F32", [h, n, dim], f32_bytes(vals(e, e))),
                   ("q", "F32", [2 * h, 3, dim], f32_bytes(vals(2 * h * 3 * dim, 2 * e)))]
    tensors_f16 = [("layer0.k", "F16", [n, dim], f16_bytes(vals(n * dim))),
                   ("layer0.v", "F16", [n, dim], f16_bytes(vals(n * dim, n * dim))),
                   ("pos", "I64", [n], struct.pack("<%dq" % n, *range(n)))]
    tensors_bf16 = [("k", "BF16", [h, n, dim], bf16_bytes(vals(e))),
                    ("v", "BF16", [h, n, dim], bf16_bytes(vals(e, e)))]
    if have_st:
        import numpy as np
        from safetensors.numpy import save_file
        conv = {"F32": "<f4", "F16": "<f2"}
        def to_np(ts):
            out = {}
            for name, dt, shape, raw in ts:
                if dt == "I64":
                    out[name] = np.arange(n, dtype="<i8")
                else:
                    out[name] = np.frombuffer(raw, dtype=conv[dt]).reshape(shape)
            return out
        save_file(to_np(tensors_f32), os.path.join(d, "kvq_f32.safetensors"), metadata={"model": "fixture"})
        save_file(to_np(tensors_f16), os.path.join(d, "kvq_f16.safetensors"))
    else:
        hdr, data = st_tensors(tensors_f32)
        hdr["__metadata__"] = {"model": "fixture"}
        write(os.path.join(d, "kvq_f32.safetensors"), st(hdr, data))
        write(os.path.join(d, "kvq_f16.safetensors"), st(*st_tensors(tensors_f16)))
    hdr, data = st_tensors(tensors_bf16)
    text = json.dumps(hdr, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)   # pad with spaces, as the format allows
    write(os.path.join(d, "kvq_bf16.safetensors"), st(text, data))


def write_good(d):
    os.makedirs(d, exist_ok=True)
    try:
        import numpy as np
    except ImportError:
        np = None
    try:
        import safetensors  # noqa: F401
        have_st = np is not None
    except ImportError:
        have_st = False
    if np is not None:
        good_npy_numpy(d, np)
    else:
        good_npy_manual(d)
        write(os.path.join(d, "f4_keyorder.npy"),
              npy('{"shape": ( 3 ,16 ) ,"fortran_order":False,"descr":"<f4"}', f32_bytes(vals(48))))
    good_safetensors(d, have_st)
    print("wrote good fixtures to %s (numpy: %s, safetensors: %s)" % (d, np is not None, have_st))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bad", default="tests/data/bad")
    ap.add_argument("--good", default="tests/data/good")
    a = ap.parse_args()
    write_bad(a.bad)
    write_good(a.good)


if __name__ == "__main__":
    main()
