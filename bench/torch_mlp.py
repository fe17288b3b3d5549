#!/usr/bin/python3
"""torch_mlp.py — the PyTorch side of the MLP benchmark (bench/run.sh).

Trains the same model as bench/mlp_s.sn or bench/mlp_l.sn — ReLU MLP,
cross-entropy, torch.optim.AdamW(lr=1e-3, weight_decay=0.01), the same
batch size, one shuffled pass over the Fashion-MNIST training set — for
--steps steps, and writes a run log in sinter's format (one JSON line per
step: {"step": N, "time": seconds since start, "loss": ...}) so both logs
are summarized by the same code (bench/report.py).

Data handling mirrors sinter: the IDX files stay uint8 in memory and each
batch is gathered and converted to float32 (p / 255) inside the timed
step, as sinter's rt_dataset_fill does; labels become int64, as
F.cross_entropy wants.

Threads: --threads N sets torch's intra-op threads (torch.set_num_threads)
and the OpenBLAS threads.  Debian's torch runs float GEMMs through
libblas.so.3, which is OpenBLAS (the same library sinter links), and
torch.set_num_threads does not reach OpenBLAS, so OPENBLAS_NUM_THREADS is
set before torch loads and openblas_set_num_threads is called as well.

Run with Debian's python (torch 1.13, numpy):
  /usr/bin/python3 bench/torch_mlp.py --config l --steps 40 --threads 2 --log /tmp/t.jsonl
"""
import argparse
import os
import sys

from benchlib import thread_env, threads_line, train, use_threads

CONFIGS = {  # name: (layer widths, batch size), as in bench/mlp_{s,l}.sn
    "s": ([784, 128, 10], 32),
    "l": ([784, 1024, 1024, 10], 256),
}
DATA = "/usr/share/datasets/fashion-mnist"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=5, help="steps left out of the printed median")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", help="JSON-lines run log, sinter's format")
    return p.parse_args()


args = parse_args()
thread_env(args.threads)  # before torch loads (benchlib.py)

import gzip  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402



def read_idx(name, header):
    """The bytes of an IDX file after its header, as a uint8 array."""
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def main():
    t0 = time.monotonic()
    blas = use_threads(torch, args.threads)
    torch.manual_seed(args.seed)

    widths, batch = CONFIGS[args.config]
    images = torch.from_numpy(read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).copy())
    labels = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz", 8).copy())
    if args.steps > len(images) // batch:
        sys.exit(f"torch_mlp: --steps {args.steps} is more than one epoch ({len(images) // batch} batches)")

    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    order = torch.randperm(len(images))

    def batch_loss(step):
        idx = order[(step - 1) * batch:step * batch]
        x = images[idx].float().div_(255)
        y = labels[idx].long()
        return F.cross_entropy(net(x), y)

    times, value = train(args.steps, opt, batch_loss, args.log, t0)

    per_step = [b - a for a, b in zip(times, times[1:])][max(args.warmup - 1, 0):]
    print(f"torch {torch.__version__} config {args.config}: {args.steps} steps, "
          f"median {statistics.median(per_step) * 1e3:.2f} ms/step after {args.warmup} warm-up steps, "
          f"final loss {value:.4f}; " + threads_line(torch, blas))

main()
