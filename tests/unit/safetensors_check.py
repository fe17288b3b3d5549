#!/usr/bin/python3
"""safetensors_check.py — reads a safetensors file the way an independent
reader would (json + numpy, no code of sinter's) and checks its layout.

    safetensors_check.py FILE [EXPECTED.json]

EXPECTED.json, if given, maps each tensor name to {"dtype": "F32"|"I32",
"shape": [...], "data": [flat values]}; the file must hold exactly those
tensors with exactly those values.  Prints PASS/FAIL lines; exits 1 if any
check failed.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

DTYPES = {"F32": np.dtype("<f4"), "I32": np.dtype("<i4"), "F16": np.dtype("<f2"),
          "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "U8": np.dtype("u1")}
check = Checks("safetensors_py_")


def main():
    path = sys.argv[1]
    raw = open(path, "rb").read()
    if not check("length", len(raw) >= 8, "file shorter than 8 bytes"):
        return
    (n,) = struct.unpack("<Q", raw[:8])
    if not check("header_fits", 8 + n <= len(raw), f"header length {n}, file {len(raw)}"):
        return
    text = raw[8:8 + n]
    check("header_aligned", (8 + n) % 8 == 0, f"data starts at byte {8 + n}")
    try:
        header = json.loads(text.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        check("json", False, str(e))
        return
    check("json", isinstance(header, dict), "header is not an object")
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    tensors = {}
    spans = []
    for name, info in header.items():
        dt = DTYPES.get(info.get("dtype"))
        if not check(f"dtype[{name}]", dt is not None, f"unknown dtype {info.get('dtype')}"):
            continue
        shape = info["shape"]
        begin, end = info["data_offsets"]
        count = int(np.prod(shape, dtype=np.int64))
        ok = 0 <= begin <= end <= len(data) and end - begin == count * dt.itemsize
        if check(f"offsets[{name}]", ok, f"[{begin}, {end}] for shape {shape} in {len(data)} bytes"):
            tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape)
            spans.append((begin, end))
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            break
        pos = end
    check("contiguous", pos == len(data), "data has holes, overlaps or trailing bytes")
    names = [k for k in header]
    by_offset = sorted(names, key=lambda k: header[k]["data_offsets"][0])
    check("sorted", by_offset == sorted(names), "data not laid out in name order")

    if len(sys.argv) > 2:
        expected = json.load(open(sys.argv[2]))
        check("names", sorted(expected) == sorted(tensors),
              f"file has {sorted(tensors)}, expected {sorted(expected)}")
        for name, want in expected.items():
            got = tensors.get(name)
            if got is None:
                continue
            wdt = DTYPES[want["dtype"]]
            wval = np.array(want["data"], dtype=wdt).reshape(want["shape"])
            ok = (header[name]["dtype"] == want["dtype"] and list(got.shape) == list(want["shape"])
                  and np.array_equal(got, wval))
            check(f"values[{name}]", ok, f"got {header[name]['dtype']} {list(got.shape)} {got.ravel()[:4]}")


if __name__ == "__main__":
    main()
    sys.exit(check.status())
