#!/usr/bin/python3
"""conv_report.py — the GEMMs of one training step of examples/lenet.sn and
examples/resnet.sn, and the Markdown report of bench/conv_step.sh.

sinter runs a convolution as GEMMs per image (runtime/conv.c): with
K = C * KH * KW input taps and P = OH * OW output pixels, per image
  forward        y[O, P]  = w[O, K] @ col[K, P]
  input grad     col[K, P] = w^T @ dy[O, P]    (not for the first layer,
                                                whose input is data)
  weight grad    dw[O, K] += dy[O, P] @ col^T
(a 1x1 convolution with stride 1 reads x as col).  The Linear layers are
[64, in] @ [in, out] and their two gradients.  A product of [m, k] and
[k, n] is 2mkn FLOP.

  conv_report.py sgemm REPEATS -- THREADS...
      times cblas_sgemm (the OpenBLAS sinter links, libopenblas.so.0,
      through ctypes) alone on every product of one step of each network,
      one call per image as runtime/conv.c makes them: per product the
      median over REPEATS passes (after 2 warm-up passes), summed over the
      step: the floor.  Prints one JSON object.

  conv_report.py report DIR STEPS
      reads {net}_t{threads}_{sinter,torch}_r{rep}.{jsonl,rss} and
      sgemm_r{rep}.json that conv_step.sh left in DIR and prints the tables.
"""
import array
import ctypes
import glob
import json
import os
import random
import re
import statistics
import sys
import time

from benchlib import summarize, warmup

BATCH = 64
NO, TR, ROW_MAJOR = 111, 112, 101  # CblasNoTrans, CblasTrans, CblasRowMajor

# (name, c_in, c_out, kernel, stride, padding, input size): every convolution
CONVS = {
    "lenet": [("conv1", 1, 6, 5, 1, 2, 28), ("conv2", 6, 16, 5, 1, 0, 14)],
    "resnet": [("stem", 1, 16, 3, 1, 1, 28),
               ("stage1.conv1", 16, 16, 3, 1, 1, 28), ("stage1.conv2", 16, 16, 3, 1, 1, 28),
               ("stage2.conv1", 16, 32, 3, 2, 1, 28), ("stage2.conv2", 32, 32, 3, 1, 1, 14),
               ("stage2.shortcut", 16, 32, 1, 2, 0, 28),
               ("stage3.conv1", 32, 64, 3, 2, 1, 14), ("stage3.conv2", 64, 64, 3, 1, 1, 7),
               ("stage3.shortcut", 32, 64, 1, 2, 0, 14)],
}
LINEARS = {"lenet": [("fc1", 400, 120), ("fc2", 120, 84), ("fc3", 84, 10)], "resnet": [("fc", 64, 10)]}
FIRST = {"lenet": "conv1", "resnet": "stem"}  # their input is data: no input gradient


def step_gemms(net):
    """(name, m, n, k, trans_a, trans_b, calls) of every product of one step."""
    out = []
    for name, c, o, k, s, p, h in CONVS[net]:
        oh = (h + 2 * p - k) // s + 1
        taps, pix = c * k * k, oh * oh
        out.append((f"fwd {name}", o, pix, taps, NO, NO, BATCH))
        if name != FIRST[net]:
            out.append((f"dx {name}", taps, pix, o, TR, NO, BATCH))
        out.append((f"dw {name}", o, taps, pix, NO, TR, BATCH))
    for name, n_in, n_out in LINEARS[net]:
        out.append((f"fwd {name}", BATCH, n_out, n_in, NO, NO, 1))
        out.append((f"dx {name}", BATCH, n_in, n_out, NO, TR, 1))
        out.append((f"dw {name}", n_in, n_out, BATCH, TR, NO, 1))
    return out


def gflop(net):
    return sum(2.0 * m * n * k * calls for _, m, n, k, _, _, calls in step_gemms(net)) * 1e-9


def sgemm_command(argv):
    reps = int(argv[0])
    threads = [int(t) for t in argv[argv.index("--") + 1:]]
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.openblas_get_corename.restype = ctypes.c_char_p
    f = blas.cblas_sgemm
    f.restype = None
    f.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                       ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    rng = random.Random(12345)
    block = array.array("f", (rng.random() - 0.5 for _ in range(4099)))
    keep = []

    def matrix(count):
        a = block * (count // len(block) + 1)
        keep.append(a)
        return a.buffer_info()[0]

    # one set of operands per product; the calls of a product (one per
    # image) read one image's slice each, as runtime/conv.c does
    ops = {}
    for net in CONVS:
        for g in step_gemms(net):
            name, m, n, k, ta, tb, calls = g
            ops[net, g] = (matrix(m * k), matrix(k * n * calls), matrix(m * n * calls))

    def run(net, g):
        name, m, n, k, ta, tb, calls = g
        pa, pb, pc = ops[net, g]
        lda, ldb = (m if ta == TR else k), (k if tb == TR else n)
        for i in range(calls):
            f(ROW_MAJOR, ta, tb, m, n, k, 1.0, pa, lda, pb + 4 * i * k * n, ldb, 0.0, pc + 4 * i * m * n, n)

    result = {"openblas": blas.openblas_get_corename().decode(), "repeats": reps, "threads": {}}
    for t in threads:
        blas.openblas_set_num_threads(t)
        per_net = {}
        for net in CONVS:
            rows = []
            for g in step_gemms(net):
                for _ in range(2):
                    run(net, g)
                samples = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    run(net, g)
                    samples.append(time.perf_counter() - t0)
                name, m, n, k, _, _, calls = g
                rows.append({"name": name, "m": m, "n": n, "k": k, "calls": calls,
                             "ms": statistics.median(samples) * 1e3, "gflop": 2.0 * m * n * k * calls * 1e-9})
            per_net[net] = {"ms": sum(r["ms"] for r in rows), "gflop": gflop(net), "gemms": rows}
        result["threads"][str(t)] = per_net
    json.dump(result, sys.stdout, indent=1)
    print()


def report_command(argv):
    d, steps = argv[0], int(argv[1])
    names = " ".join(os.listdir(d))
    rows = {}
    for net in CONVS:
        for t in sorted({int(m) for m in re.findall(rf"\b{net}_t(\d+)_", names)}):
            s = summarize(sorted(glob.glob(os.path.join(d, f"{net}_t{t}_sinter_r*.jsonl"))), steps)
            p = summarize(sorted(glob.glob(os.path.join(d, f"{net}_t{t}_torch_r*.jsonl"))), steps)
            if s and p:
                rows[net, t] = s, p
    label = {"lenet": "LeNet-5", "resnet": "ResNet-8"}
    print("| config | threads | sinter ms/step | torch ms/step | ratio sinter/torch "
          "| sinter peak MB | torch peak MB | memory ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (net, t), (s, p) in rows.items():
        print(f"| {label[net]}, batch 64 | {t} | {s['ms']:.1f} | {p['ms']:.1f} | {s['ms'] / p['ms']:.2f} "
              f"| {s['mb']:.0f} | {p['mb']:.0f} | {s['mb'] / p['mb']:.2f} |")
    n = min((s["n"] for s, _ in rows.values()), default=0)
    print()
    print(f"AdamW (lr 1e-3, weight decay 0.01); medians over {n} repeats; per run, the median step after the "
          f"warm-up ({warmup(steps)} of {steps} steps).  Spread (ms/step, the fastest and the slowest run): "
          + "; ".join(f"{label[net]} t{t} sinter {s['min']:.1f}-{s['max']:.1f}, torch {p['min']:.1f}-{p['max']:.1f}"
                      for (net, t), (s, p) in rows.items()) + ".")
    floors = {}
    for path in sorted(glob.glob(os.path.join(d, "sgemm_r*.json"))):
        with open(path) as f:
            for t, by_net in json.load(f)["threads"].items():
                for net, x in by_net.items():
                    floors.setdefault((net, int(t)), []).append(x["ms"])
    print()
    print("GEMMs: GFLOP of one step (convolutions as per-image GEMMs, Linear layers), the floor "
          "(cblas_sgemm alone on the same products, `conv_report.py sgemm`), and each step's GFLOP/s.")
    print()
    print("| config | threads | GFLOP/step | floor ms/step | sgemm GFLOP/s | sinter GFLOP/s | torch GFLOP/s "
          "| sinter step / floor | torch step / floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (net, t), (s, p) in rows.items():
        g = gflop(net)
        if (net, t) not in floors:
            continue
        fms = statistics.median(floors[net, t])
        print(f"| {label[net]} | {t} | {g:.3f} | {fms:.1f} | {g / fms * 1e3:.1f} | {g / s['ms'] * 1e3:.1f} "
              f"| {g / p['ms'] * 1e3:.1f} | {s['ms'] / fms:.2f}x | {p['ms'] / fms:.2f}x |")


def main():
    cmds = {"sgemm": sgemm_command, "report": report_command}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit("usage: conv_report.py sgemm REPEATS -- THREADS... | report DIR STEPS")
    cmds[sys.argv[1]](sys.argv[2:])


main()
