"""bf16_check.py — what tests/spec/bf16.sn prints, recomputed with PyTorch's
torch.bfloat16 on the same values (tests/e2e/bf16.sh runs it).

    bf16_check.py spec OUTPUT          every printed line against torch
    bf16_check.py read FILE            save(..., dtype = "bf16")'s file: BF16
                                       bits equal torch's rounding of the f32
                                       values that FILE.f32 holds
    bf16_check.py write FILE           a BF16 file torch's rounding wrote (the
                                       values print to stdout, as f32 text)
    bf16_check.py replay OUTPUT INIT   tests/spec/bf16_train.sn replayed in
                                       PyTorch from the weights in INIT

Elementwise bf16 results must match bit for bit (sinter computes in f32 and
rounds once, as PyTorch's CPU kernels); sums, pow, log and exp/tanh, whose
f32 results may differ in the last bit from PyTorch's (summation order, the
math library), within one bf16 unit; f32 results within 1e-6.  The bf16
matrix product is checked against the product in f64 rounded to bf16:
PyTorch's own CPU bf16 matmul is further from it (it rounds partial sums).
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

report = Checks("bf16 ")
NUM = re.compile(r"-?(?:\d+\.?\d*(?:e[+-]?\d+)?|inf)|nan|true|false")


def numbers(text):
    out = []
    for m in NUM.findall(text):
        out.append({"true": 1.0, "false": 0.0}.get(m, None) if m in ("true", "false") else float(m))
    return out


def shown(t):
    """A tensor's elements as sinter prints them: 1-D tensors over 10
    elements show the first 6 and the last 3."""
    flat = t.detach().flatten().tolist()
    if t.dim() == 1 and len(flat) > 10:
        flat = flat[:6] + flat[-3:]
    return [float(v) for v in flat]


def bits(v):
    """The bf16 bits of a number as read back from its printed text."""
    return int(torch.tensor([v], dtype=torch.float32).bfloat16().view(torch.int16)[0]) & 0xFFFF


def close(got, want, kind):
    if len(got) != len(want):
        return False, f"{len(got)} numbers printed, {len(want)} expected"
    for i, (g, w) in enumerate(zip(got, want)):
        if math.isnan(w) or math.isnan(g):
            if not (math.isnan(w) and math.isnan(g)):
                return False, f"element {i}: {g} against {w}"
            continue
        if kind == "exact":
            ok = bits(g) == bits(w)
        elif kind == "ulp":
            ok = abs(bits(g) - bits(w)) <= 1 and (g >= 0) == (w >= 0) or g == w
        else:
            ok = abs(g - w) <= 1e-6 * max(1.0, abs(w))
        if not ok:
            return False, f"element {i}: sinter {g}, torch {w} ({kind})"
    return True, ""


def spec(path):
    lines = {}
    for line in open(path):
        name, _, rest = line.strip().partition(" ")
        lines[name] = rest
    x = (torch.arange(24, dtype=torch.int32) - 11.5) * torch.tensor(0.37, dtype=torch.float32)
    x = x.float()
    b = x.bfloat16()
    b46 = b.reshape(4, 6)
    bf = torch.bfloat16
    edges = torch.tensor([0.1, 1.00390625, 1.01171875, 3.4e38, -3.4e38, 1e-40, 65504.0, -0.0]).bfloat16()
    want = {
        "cast": ([b], "exact"),
        "widen": ([b.float()], "exact"),
        "edges": ([edges], "exact"),
        "nan": ([torch.log(x).bfloat16()], "ulp"),
        "add": ([b + 1.5], "exact"),
        "mul": ([b * b], "exact"),
        "div": ([b / 3], "exact"),
        "pow": ([b ** 3], "ulp"),
        "neg": ([-b], "exact"),
        "mixed_f32": ([b + x], "f32"),
        "with_i32": ([b + torch.arange(24, dtype=torch.int32)], "exact"),
        "i32_floordiv": ([torch.div(torch.arange(24, dtype=torch.int32), (2.5 + 0 * x).bfloat16(),
                                    rounding_mode="floor")], "exact"),
        "relu": ([torch.relu(b)], "exact"),
        "exp": ([torch.exp(b * 0.1)], "ulp"),
        "tanh": ([torch.tanh(b)], "ulp"),
        "compare": ([(b > 0.5).float()], "exact"),
        "sum": ([b.sum()], "ulp"),
        "sum_axis": ([b46.sum(1)], "ulp"),
        "max_axis": ([b46.max(0).values], "exact"),
        "argmax": ([b46.float().argmax(1).float()], "exact"),
        # PyTorch's CPU bf16 matmul is not the rounded f32 product (it gives
        # 5.9375 for 5.8326 here): the reference is the product in f64
        "matmul": ([(b46.double() @ b.reshape(6, 4).double()).float().bfloat16()], "ulp"),
        "matmul_f32": ([b46.float() @ x.reshape(6, 4)], "f32"),
        "transpose": ([b46.T], "exact"),
        "index": ([b[3], b[2:20:5], b46[1, 1:3]], "exact"),
        "concat": ([torch.cat([b[0:2], b[5:7]]), torch.cat([b[0:2].float(), x[0:1]])], "exact"),
        "where": ([torch.where(b > 0, b, torch.tensor(0.25, dtype=bf))], "exact"),
        "maximum": ([torch.maximum(b, torch.tensor(0.5, dtype=bf))], "exact"),
        "pad": ([torch.nn.functional.pad(b[0:3], (1, 1))], "exact"),
        "i32": ([b.int().float()], "exact"),
        "host": ([torch.tensor(0.1).bfloat16().float(), torch.tensor(3.0), torch.tensor(float("inf"))], "exact"),
    }
    for name, (vals, kind) in want.items():
        if name not in lines:
            report(name, False, "not printed")
            continue
        expected = []
        for v in vals:
            expected += shown(v.float() if v.dtype == bf else v.float())
        ok, why = close(numbers(lines[name]), expected, kind)
        report(name, ok, why)
    # the dtypes PyTorch gives, as printed: bf16 prints at most 4 digits, f32 up to 9
    report("dtype_mixed_is_f32", b.dtype == bf and (b + x).dtype == torch.float32 and
           "-7.775625" in lines.get("mixed_f32", ""), lines.get("mixed_f32", ""))
    report("dtype_concat_bf16", "-3.89," in lines.get("concat", "").split("] [")[0],
           lines.get("concat", ""))


def read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    f32 = json.load(open(path + ".json"))
    for name, want in f32.items():
        e = hdr.get(name)
        if not report(f"read_{name}_dtype", e is not None and e["dtype"] == "BF16", str(e)):
            continue
        got = np.frombuffer(data[e["data_offsets"][0]:e["data_offsets"][1]], dtype="<u2")
        ref = torch.tensor(want, dtype=torch.float32).flatten().bfloat16().view(torch.int16).numpy().view("<u2")
        report(f"read_{name}_bits", got.shape == ref.shape and (got == ref).all(),
               f"sinter {got[:6]}, torch {ref[:6]}")


def write(path):
    vals = {"weight": [[0.1, -1e-3, 3.14159], [-2.5, float("nan"), 65504.0]], "bias": [1 / 3, 2 / 3, 1e38]}
    hdr, blobs, off = {}, [], 0
    for name, v in vals.items():
        t = torch.tensor(v, dtype=torch.float32).bfloat16()
        raw = t.contiguous().view(torch.int16).numpy().tobytes()
        hdr[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    for name, v in vals.items():
        print(name, " ".join(repr(float(f)) for f in torch.tensor(v).bfloat16().float().flatten()))


def load_f32(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = torch.tensor(np.frombuffer(raw[8 + n + a:8 + n + b], dtype="<f4").reshape(e["shape"]).copy())
    return out


class RoundBF16(torch.autograd.Function):
    """bf16(x) as sinter defines it: rounded forward, the gradient passed on
    unchanged in f32 (PyTorch's x.bfloat16() would round the gradient too)."""

    @staticmethod
    def forward(ctx, x):
        return x.bfloat16().float()

    @staticmethod
    def backward(ctx, g):
        return g


def replay(path, init):
    """Each step's loss within 1e-4 relative, the weights after the steps
    within 1e-4 + 1e-3 |w|.  Both compute in f32 and round to bf16 at the
    same places, so they differ only where a product summed in another
    order lands on the other side of a bf16 rounding boundary: one bf16 unit
    (2^-8 relative) in an element now and then, diluted by the f32 parts."""
    got = {}
    for line in open(path):
        name, _, rest = line.strip().partition(" ")
        got.setdefault(name, []).append(rest)
    w = {k: v.clone().requires_grad_(True) for k, v in load_f32(init).items()}
    x = ((torch.arange(64, dtype=torch.int32) % 7 - 3).float() * 0.25).reshape(8, 8)
    y = (torch.arange(8) % 4).long()
    r = RoundBF16.apply
    losses = []
    for _ in range(len(got.get("loss", []))):
        h = r(torch.relu(r(r(x) @ r(w["w1"])) + w["b1"]))
        loss = torch.nn.functional.cross_entropy(h @ w["w2"], y)
        for t in w.values():
            t.grad = None
        loss.backward()
        with torch.no_grad():
            for t in w.values():
                t -= 0.5 * t.grad
        losses.append(float(loss))
    sl = [float(v) for v in got.get("loss", [])]
    report("replay_steps", len(sl) >= 5, f"{len(sl)} losses printed")
    worst = max((abs(a - b) / abs(b) for a, b in zip(sl, losses)), default=1)
    report("replay_losses", worst <= 1e-4, f"sinter {sl}, torch {losses} (worst {worst:.2e})")
    report("replay_learns", len(sl) >= 2 and sl[-1] < 0.8 * sl[0], f"{sl}")
    for name in ("w1", "w2"):
        mine = numbers(got.get(name, [""])[0])
        ref = shown(w[name][0])
        ok = len(mine) == len(ref) and all(abs(a - b) <= 1e-4 + 1e-3 * abs(b) for a, b in zip(mine, ref))
        report(f"replay_{name}", ok, f"sinter {mine[:4]}, torch {ref[:4]}")


if __name__ == "__main__":
    if sys.argv[1] == "replay":
        replay(sys.argv[2], sys.argv[3])
    else:
        {"spec": spec, "read": read, "write": write}[sys.argv[1]](sys.argv[2])
    sys.exit(report.status())
