"""Replay of tests/e2e/torch_clip.sn in PyTorch: the same MLP from the
weights sinter saved, ten steps each of torch.optim.SGD (momentum 0.9) and
torch.optim.AdamW (lr 1e-2, PyTorch's defaults otherwise) with
torch.nn.utils.clip_grad_norm_(params, 1.0) between backward and step, in
float64 so that the reference itself does not round.  Per step, sinter's
loss and its pre-clip norm (opt.grad_norm) must agree with the loss and
clip_grad_norm_'s return value within 1e-5 relative; after the ten steps
every weight within 1e-5 of the largest value of its tensor for SGD.  For
AdamW that bound is out of reach of any float32 run: where a pixel's
gradient is a sum that nearly cancels, Adam's m / sqrt(v) turns its rounding
into a full step (PyTorch's own float32 replay ends 1.3e-4 away from its
float64 one).  So AdamW's weights must be within 1e-5 or within twice the
distance of PyTorch's float32 replay, whichever is larger.  The clip must
have acted on most steps (norm above 1), or the test would prove nothing.

usage: torch_clip.py DIR SINTER_OUTPUT   (DIR holds {sgd,adamw}_{init,final}.safetensors)"""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist/"
NAMES = ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]
CLIP, STEPS, BATCH = 1.0, 10, 64


def load_idx():
    img = gzip.open(DATA + "t10k-images-idx3-ubyte.gz").read()
    lab = gzip.open(DATA + "t10k-labels-idx1-ubyte.gz").read()
    x = np.frombuffer(img[16:], dtype=np.uint8).reshape(-1, 784).astype(np.float64) / 255
    y = np.frombuffer(lab[8:], dtype=np.uint8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def train(kind, w, x_all, y_all, dtype, got=None, report=None):
    """STEPS clipped steps from weights w in dtype; with got, checks each
    step's loss and norm against sinter's.  Returns the final weights."""
    p = [torch.from_numpy(w[k]).to(dtype).requires_grad_() for k in NAMES]
    if kind == "sgd":
        opt = torch.optim.SGD(p, lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.AdamW(p, lr=1e-2)
    clipped = 0
    for t in range(STEPS):
        x, y = x_all[t * BATCH:(t + 1) * BATCH].to(dtype), y_all[t * BATCH:(t + 1) * BATCH]
        loss = F.cross_entropy(F.linear(F.relu(x @ p[0] + p[1]), p[2].T, p[3]), y)
        opt.zero_grad()
        loss.backward()
        norm = float(torch.nn.utils.clip_grad_norm_(p, CLIP))
        opt.step()
        clipped += norm > CLIP
        if got is None:
            continue
        have_loss, have_norm = got[t]
        rl = abs(have_loss - loss.item()) / abs(loss.item())
        rn = abs(have_norm - norm) / norm
        report(f"{kind}_step{t + 1}", rl <= 1e-5 and rn <= 1e-5,
               f"loss sinter {have_loss} torch {loss.item()} ({rl:.1e}); "
               f"norm sinter {have_norm} torch {norm} ({rn:.1e})")
    if got is not None:
        report(f"{kind}_clipped", clipped >= STEPS * 7 // 10, f"the clip acted on {clipped} of {STEPS} steps")
    return [x.detach().double() for x in p]


def distance(a, b):
    """The worst difference of a tensor of a from b, relative to b's largest value."""
    return max(float((x - y).abs().max()) / float(y.abs().max()) for x, y in zip(a, b))


def replay(report, kind, folder, got, x_all, y_all):
    if not report(f"{kind}_steps", len(got) == STEPS, f"sinter printed {len(got)} steps, want {STEPS}"):
        return
    w = read_safetensors(os.path.join(folder, kind + "_init.safetensors"))
    ref = train(kind, w, x_all, y_all, torch.float64, got, report)
    final = read_safetensors(os.path.join(folder, kind + "_final.safetensors"))
    worst = distance([torch.from_numpy(final[k]).double() for k in NAMES], ref)
    bound = 1e-5
    if kind == "adamw":
        bound = max(bound, 2 * distance(train(kind, w, x_all, y_all, torch.float32), ref))
    report(f"{kind}_final_weights", worst <= bound,
           f"worst difference {worst:.1e} of a tensor's largest value, bound {bound:.1e}")


def main():
    report = Checks("torch_clip ")
    folder, out = sys.argv[1], sys.argv[2]
    lines = [line.split() for line in open(out)]
    x_all, y_all = load_idx()
    for kind in ("sgd", "adamw"):
        got = [(float(f[1]), float(f[2])) for f in lines if f and f[0] == kind]
        replay(report, kind, folder, got, x_all, y_all)
    return report.status()


if __name__ == "__main__":
    sys.exit(main())
