"""param_groups.py — checks what tests/e2e/param_groups.sn printed (stdin):
SGD replayed in float32 NumPy for each group with its own hyperparameters
(m.a: lr 0.5 of its group, also after the host set opt.lr; m.b: the
optimizer's lr and its group's weight_decay 0.25), n bit-identical to its
initial values, the one-parameter Adam step of m.b leaving m.a alone, and
the checkpoint holding optimizer state for m.b alone (argv[1])."""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks

report = Checks("param_groups ")
lines = [line.split(" ", 1) for line in sys.stdin.read().splitlines()]


def arrays(text):
    # "[[..]] [..] ..." -> the top-level lists, in order
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "[":
            if depth == 0:
                start = i
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                out.append(np.array(json.loads(text[start:i + 1]), dtype=np.float32))
    return out


init = arrays(next(rest for tag, rest in lines if tag == "init"))
steps = [rest for tag, rest in lines if tag == "step"]
report("four steps", len(steps) == 4, f"{len(steps)} step lines")
a, b = init[0].copy(), init[1].copy()
for k, rest in enumerate(steps):
    host_lr = 0.1 if k < 2 else 0.01
    lr = np.float32(host_lr)
    a = a - np.float32(0.5) * np.float32(2)
    b = b - lr * (np.float32(3) + np.float32(0.25) * b)
    got = arrays(rest.split(" ", 1)[1])
    report(f"step {k + 1} opt.lr", float(rest.split(" ", 1)[0]) == host_lr, rest.split(" ", 1)[0])
    report(f"step {k + 1} m.a (group lr 0.5)", np.allclose(got[0], a, rtol=1e-6, atol=0), f"{got[0]} vs {a}")
    report(f"step {k + 1} m.b (group weight_decay, opt.lr)", np.allclose(got[1], b, rtol=1e-6, atol=0),
           f"{got[1]} vs {b}")
    report(f"step {k + 1} n untouched", all(np.array_equal(got[i], init[i]) for i in (2, 3)), "n moved")
only = arrays(next(rest for tag, rest in lines if tag == "only"))
report("adam of m.b leaves m.a", np.array_equal(only[0], a), f"{only[0]} vs {a}")
# Adam's first step moves every element by lr (the sign of the gradient 2b)
report("adam of m.b moves m.b", np.allclose(only[1], b - np.float32(0.01) * np.sign(b), rtol=1e-5, atol=0),
       f"{only[1]}")
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
names = sorted(k for k in json.loads(raw[8:8 + n]) if k != "__metadata__")
want = ["meta.loops", "meta.step", "model.a", "model.b", "opt.m.b", "opt.v.b"]
report("checkpoint state of owned parameters only", names == want, f"{names}")
report("resume", ["resumed", "1"] in lines, "no 'resumed 1' line")
sys.exit(report.status())
