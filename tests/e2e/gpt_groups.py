"""gpt_groups.py — the weight-decay groups of examples/gpt_char.sn
(tests/e2e/gpt_groups.sh).

    gpt_groups.py INIT DECAYED UNDECAYED LR WD

INIT holds the initial weights, DECAYED those after one AdamW step with
weight decay WD on the decay group, UNDECAYED after the same step with 0.
The no-decay parameters (rank < 2: biases and norms; the embeddings
wte and wpe) must be bit-identical in both runs, and moved by the step; every
other parameter must differ between the runs by exactly the decoupled
decay LR * WD * p0 (up to the rounding of one f32 subtraction)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks
from st_read import read_safetensors

report = Checks("gpt_groups ")
init, dec, und = (read_safetensors(p) for p in sys.argv[1:4])
lr, wd = float(sys.argv[4]), float(sys.argv[5])
names = sorted(init)
report("same parameters in the three files", names == sorted(dec) == sorted(und), "names differ")
no_decay = [n for n in names if init[n].ndim < 2 or n in ("wte.weight", "wpe.weight")]
decay = [n for n in names if n not in no_decay]
report("the split: 2 embeddings, biases and norms / weight matrices",
       len(no_decay) > 2 and len(decay) > 0 and all(n.endswith(".weight") for n in decay),
       f"{no_decay} / {decay}")


def same(a, b):
    return np.array_equal(a.view(np.uint32), b.view(np.uint32))


bad = [n for n in no_decay if not same(dec[n], und[n])]
report(f"no decay on {len(no_decay)} biases, norms, embeddings: bit-identical to the zero-decay run",
       not bad, f"differ: {bad}")
still = [n for n in no_decay if same(dec[n], init[n])]
report("the step moved them", not still, f"unmoved: {still}")
off = []
for n in decay:
    p0 = init[n].astype(np.float64)
    diff = und[n].astype(np.float64) - dec[n]
    err = np.abs(diff - lr * wd * p0).max()
    if not err <= 2e-7 * np.abs(p0).max():
        off.append(f"{n}: {err:.3g}")
report(f"decay lr * wd * p0 on the {len(decay)} weight matrices", not off, "; ".join(off))
sys.exit(report.status())
