"""Independent check of sinter's training step: the MLP of numpy_mlp.sn,
written out by hand in NumPy (forward, backward, AdamW), started from the
weights sinter saved, must give the same losses step by step.

usage: numpy_mlp.py INIT.safetensors SINTER_OUTPUT [FINAL.safetensors]
Prints one PASS/FAIL line per step (losses within 1e-6 relative), and with
FINAL one for the weights after the ten steps: every weight within 1e-5
of the largest weight of its tensor (a weight near 0 has no meaningful
relative difference of its own: sinter's f32 gradients round at the scale
of the tensor, and Adam's normalized steps pass that rounding on).  The
order of OpenBLAS's f32 sums moves that: 5.8e-7 to 1.04e-6 on one Zen 4
across its Haswell, SkylakeX and Cooperlake kernels and 1 or 2 threads
(1e-6, the bound before, failed with Cooperlake's on 1 thread), while a
wrong step is far off: weight decay 0.011 for 0.01 gives 3.1e-3, a
learning rate 0.1% larger 6.6e-2."""
import gzip
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from st_read import read_safetensors  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist/"


def load_safetensors(path):
    """The file's tensors as float64 arrays."""
    return {name: a.astype(np.float64) for name, a in read_safetensors(path).items()}


def load_idx():
    img = gzip.open(DATA + "t10k-images-idx3-ubyte.gz").read()
    lab = gzip.open(DATA + "t10k-labels-idx1-ubyte.gz").read()
    x = np.frombuffer(img[16:], dtype=np.uint8).reshape(-1, 784).astype(np.float64) / 255
    y = np.frombuffer(lab[8:], dtype=np.uint8).astype(np.int64)
    return x, y


def main():
    w = load_safetensors(sys.argv[1])
    got = [float(line.split()[1]) for line in open(sys.argv[2]) if line.startswith("loss ")]
    x_all, y_all = load_idx()
    names = ["l1.weight", "l1.bias", "l2.weight", "l2.bias"]
    m = {k: np.zeros_like(w[k]) for k in names}
    v = {k: np.zeros_like(w[k]) for k in names}
    lr, b1, b2, eps, wd = 1e-3, 0.9, 0.999, 1e-8, 0.01
    if len(got) != 10:
        print(f"FAIL numpy_mlp: expected 10 losses from sinter, got {len(got)}")
        return 1
    failed = 0
    for t in range(1, 11):
        x = x_all[(t - 1) * 1000:t * 1000]
        y = y_all[(t - 1) * 1000:t * 1000]
        h_pre = x @ w["l1.weight"] + w["l1.bias"]
        h = np.maximum(h_pre, 0)
        logits = h @ w["l2.weight"] + w["l2.bias"]
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(len(y)), y].mean()
        rel = abs(loss - got[t - 1]) / abs(loss)
        ok = rel <= 1e-6
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} numpy_mlp step {t}: numpy {loss:.7f} sinter {got[t - 1]:.7f} relative difference {rel:.1e}")
        # backward
        d = np.exp(logp)
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        g = {"l2.weight": h.T @ d, "l2.bias": d.sum(0)}
        dh = (d @ w["l2.weight"].T) * (h_pre > 0)
        g["l1.weight"] = x.T @ dh
        g["l1.bias"] = dh.sum(0)
        for k in names:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            mhat = m[k] / (1 - b1 ** t)
            vhat = v[k] / (1 - b2 ** t)
            w[k] = w[k] - lr * (mhat / (np.sqrt(vhat) + eps) + wd * w[k])
    if len(sys.argv) > 3:
        final = load_safetensors(sys.argv[3])
        worst, where = 0.0, ""
        for k in names:
            d = np.abs(final[k] - w[k])
            rel = d / np.abs(w[k]).max()
            i = int(np.argmax(rel))
            if rel.flat[i] > worst:
                worst, where = float(rel.flat[i]), f"{k}[{i}]: sinter {final[k].flat[i]:.9g} numpy {w[k].flat[i]:.9g}"
        ok = worst <= 1e-5
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} numpy_mlp final weights: worst relative difference {worst:.1e} at {where}")
    return 1 if failed else 0


sys.exit(main())
