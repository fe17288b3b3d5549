#!/usr/bin/env python3
# make_safetensors.py — writes the damaged safetensors files and checkpoints
# that tests/errors/load_*.sn and resume_*.sn feed to load and resume: one
# defect each, everything else valid.  Run from anywhere; writes beside
# itself.  The files are committed; rerun after changing this script.
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, header, data, hlen=None):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(struct.pack("<Q", len(text) if hlen is None else hlen) + text + data)


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
i32 = lambda *v: struct.pack("<%di" % len(v), *v)

write("st-overlap.safetensors", {"a": t("F32", [2], 0, 8), "b": t("F32", [2], 4, 12)}, f32(1, 2, 3))
write("st-gap.safetensors", {"a": t("F32", [2], 0, 8), "b": t("F32", [2], 12, 20)}, f32(1, 2, 3, 4, 5))
write("st-trailing.safetensors", {"a": t("F32", [2], 0, 8)}, f32(1, 2, 3))
write("st-reversed.safetensors", {"a": t("F32", [2], 8, 0)}, f32(1, 2))
write("st-beyond.safetensors", {"a": t("F32", [4], 0, 16)}, f32(1, 2))
write("st-dtype.safetensors", {"a": t("F16", [2], 0, 4)}, b"\0" * 4)
write("st-shape.safetensors", {"a": t("F32", [3], 0, 8)}, f32(1, 2))
# json.dumps cannot repeat a key: build this header by hand
dup = b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
with open(os.path.join(HERE, "st-duplicate.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(dup)) + dup + f32(1, 2))
write("st-huge-header.safetensors", {"a": t("F32", [1], 0, 4)}, f32(1), hlen=1 << 62)

# checkpoints: only the meta tensors matter, resume checks them first
def ckpt(name, step, loops, step_dtype="I32"):
    hdr = {"meta.loops": t("I32", [len(loops), 4], 12, 12 + 16 * len(loops)),
           "meta.step": t(step_dtype, [3], 0, 12)}
    pack = i32 if step_dtype == "I32" else f32
    write(name, hdr, pack(*step) + i32(*[v for row in loops for v in row]))


ckpt("ckpt-negative-step.safetensors", [-5, 0, 0], [])
ckpt("ckpt-float-step.safetensors", [5, 1, 10], [], step_dtype="F32")
ckpt("ckpt-bad-loop.safetensors", [5, 1, 10], [[12, 3, 4, 1]])
write("ckpt-no-meta.safetensors", {"model.weight": t("F32", [2, 2], 0, 16)}, f32(1, 2, 3, 4))
# a recorded host variable whose kind is none of int, float, bool, list
write("ckpt-bad-var.safetensors",
      {"meta.step": t("I32", [3], 0, 12), "meta.loops": t("I32", [1, 4], 12, 28),
       "meta.var.0.0.best": t("I32", [1, 3], 28, 40)},
      i32(5, 1, 10) + i32(12, 3, 4, -1) + i32(9, 0, 0))

# a BatchNorm2d(2)'s parameters without its running buffers (saved by a
# sinter that had no buffers): load must name the missing buffer
write("bn-no-buffers.safetensors", {"bias": t("F32", [2], 0, 8), "weight": t("F32", [2], 8, 16)},
      f32(0, 0, 1, 1))

# BF16 with the byte count of F32: 2 bytes an element, so the shape needs 8 of the 16
write("st-bf16-size.safetensors", {"weight": t("BF16", [2, 2], 0, 16)}, b"\0" * 16)
