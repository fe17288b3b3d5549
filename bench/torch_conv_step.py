#!/usr/bin/python3
"""torch_conv_step.py — the PyTorch side of the convolution benchmark
(bench/conv_step.sh): examples/lenet.sn's LeNet-5 or examples/resnet.sn's
ResNet-8 (the torch.nn networks of tests/lib/torch_convnets.py, which the
replays hold to sinter's arithmetic) trained with torch.optim.AdamW(lr=1e-3,
weight_decay=0.01) at batch 64 on Fashion-MNIST, as sinter runs the
examples with -D EPOCHS=1 -D STEPS=N -D SHUFFLE=false -D TEST=500: the
whole training set read into memory as f32 (so both processes hold the
same data), --steps batches in file order, then the first 500 test images
evaluated (batch norm in evaluation mode).  It writes a run log in
sinter's format (one JSON line per step: {"step", "time", "loss"}), so
bench/conv_report.py reads both sides with the same code.

Threads as bench/torch_mlp.py (bench/benchlib.py): --threads N sets torch's
intra-op threads and OpenBLAS's (Debian's torch runs its float GEMMs, and
its convolutions' GEMMs, through OpenBLAS).

  /usr/bin/python3 bench/torch_conv_step.py --net resnet --steps 30 --threads 1 --log /tmp/t.jsonl
"""
import argparse
import os
import sys

from benchlib import thread_env, threads_line, train, use_threads

BATCH, LR, WEIGHT_DECAY, TEST = 64, 1e-3, 0.01, 500  # as the examples run by conv_step.sh


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--net", choices=["lenet", "resnet"], required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log", help="JSON-lines run log, sinter's format")
    return p.parse_args()


args = parse_args()
thread_env(args.threads)  # before torch loads (benchlib.py)

import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "lib"))
from torch_convnets import LeNet5, ResNet8, idx_images, idx_labels  # noqa: E402


def main():
    t0 = time.monotonic()
    blas = use_threads(torch, args.threads)
    torch.manual_seed(0)
    x = idx_images("train-images-idx3-ubyte.gz")
    y = idx_labels("train-labels-idx1-ubyte.gz")
    net = LeNet5() if args.net == "lenet" else ResNet8()
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    net.train()

    def batch_loss(step):
        s = slice((step - 1) * BATCH, step * BATCH)
        return F.cross_entropy(net(x[s]), y[s])

    times, value = train(args.steps, opt, batch_loss, args.log, t0)
    net.eval()
    with torch.no_grad():
        tx = idx_images("t10k-images-idx3-ubyte.gz", TEST)
        ty = idx_labels("t10k-labels-idx1-ubyte.gz", TEST)
        acc = (net(tx).argmax(1) == ty).float().mean().item()
    per_step = [b - a for a, b in zip(times, times[1:])]
    print(f"torch {torch.__version__} {args.net}: {args.steps} steps, median "
          f"{statistics.median(per_step or [times[0]]) * 1e3:.1f} ms/step, final loss {value:.4f}, "
          f"accuracy on {TEST} test images {acc:.3f}; " + threads_line(torch, blas))


main()
