"""torch_xent.py — checks what tests/e2e/torch_xent.sn printed and saved
against torch.nn.functional.cross_entropy: the four losses (within 1e-6
relative) and their gradients (the weights after one SGD step of lr 1 are
the weights before minus the gradients; within 1e-5 of max(1, |g|)).

Usage: torch_xent.py DIR SINTER_OUTPUT LABEL
Prints "PASS name" / "FAIL name: reason" lines.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402

# Must match tests/e2e/torch_xent.sn.
Y = [[0, 2, 4], [2, 1, 3]]
Y_IGNORED = [[0, -100, 4], [-100, 1, 3]]
OPTIONS = [
    ("plain", Y, {}),
    ("label_smoothing", Y, {"label_smoothing": 0.1}),
    ("ignore_index", Y_IGNORED, {"ignore_index": -100}),
    ("both", Y, {"label_smoothing": 0.3, "ignore_index": 2}),
]


def main():
    out_dir, output, label = sys.argv[1], sys.argv[2], sys.argv[3]
    report = Checks(f"torch_xent {label} ")
    before = read_safetensors(os.path.join(out_dir, "before.safetensors"))["w"]
    after = read_safetensors(os.path.join(out_dir, "after.safetensors"))["w"]
    printed = {}
    with open(output) as f:
        for line in f:
            words = line.split()
            if words and words[0] == "loss":
                printed[int(words[1])] = float(words[2])
    w = torch.tensor(before, dtype=torch.float64, requires_grad=True)
    total = 0
    for i, (name, y, kw) in enumerate(OPTIONS):
        # float64 logits: the reference's own rounding stays far below the tolerance
        logits = w[i].permute(0, 2, 1)  # torch wants the class axis second
        loss = F.cross_entropy(logits, torch.tensor(y), **kw)
        total = total + loss
        got = printed.get(i)
        want = loss.item()
        report(f"loss {name}", got is not None and abs(got - want) <= 1e-6 * max(1.0, abs(want)),
               f"sinter {got}, torch {want}")
    total.backward()
    grad = w.grad.numpy()
    got_grad = before.astype(np.float64) - after.astype(np.float64)
    for i, (name, _, _) in enumerate(OPTIONS):
        err = np.max(np.abs(got_grad[i] - grad[i]) / np.maximum(1.0, np.abs(grad[i])))
        report(f"grad {name}", err <= 1e-5, f"worst relative difference {err:.3g}")
    # the ignored positions get no gradient at all
    ignored = np.array(Y_IGNORED) == -100
    report("grad ignored positions zero", np.all(got_grad[2][ignored] == 0.0),
           f"gradient at ignored positions {got_grad[2][ignored]}")
    sys.exit(report.status())


if __name__ == "__main__":
    main()
