#!/usr/bin/python3
"""report.py — turns the raw files of one bench/run.sh run into Markdown.

Reads, from the directory bench/run.sh filled:
  {cfg}_t{threads}_{impl}_r{rep}.jsonl   run logs (sinter --log, or
                                         bench/torch_mlp.py --log, same format)
  {cfg}_t{threads}_{impl}_r{rep}.rss     peak RSS in KB (/usr/bin/time -f %M)
  sgemm_r{rep}.txt                       bench/sgemm output
and prints two Markdown tables: step time and peak memory per config and
thread count, and, for mlp_l, the step's achieved GEMM GFLOP/s against
OpenBLAS alone on the same GEMMs.

Step time of one run: the durations of steps are differences of
consecutive "time" values (the first step, which also loads the data and
compiles, has none); the first WARMUP steps are left out, WARMUP =
max(5, steps // 10); the run's step time is the median of the rest.  Over
the repeats, each number in the tables is the median of the runs' numbers.

Usage: report.py DIR CFG=STEPS...   (e.g. report.py /tmp/b s=400 l=60)
"""
import glob
import os
import re
import statistics
import sys

from benchlib import summarize, warmup

NAMES = {"s": "mlp_s 784-128-10 b32", "l": "mlp_l 784-1024-1024-10 b256"}




def runs(d, cfg, threads, impl):
    return sorted(glob.glob(os.path.join(d, f"{cfg}_t{threads}_{impl}_r*.jsonl")))


def sgemm(d):
    """{threads: (median ms, gflop)} over the sgemm runs; GEMMs of one mlp_l step."""
    per = {}
    for path in sorted(glob.glob(os.path.join(d, "sgemm_r*.txt"))):
        with open(path) as f:
            for m in re.finditer(r"^total threads=(\d+) ms=([\d.]+) gflop=([\d.]+)", f.read(), re.M):
                per.setdefault(int(m.group(1)), []).append((float(m.group(2)), float(m.group(3))))
    return {t: (statistics.median(x[0] for x in v), v[0][1]) for t, v in per.items()}


def main():
    d = sys.argv[1]
    steps = {}
    for arg in sys.argv[2:]:
        cfg, n = arg.split("=")
        steps[cfg] = int(n)
    threads = sorted({int(m) for m in re.findall(r"_t(\d+)_", " ".join(os.listdir(d)))})

    print("| config | threads | sinter ms/step | torch ms/step | ratio sinter/torch "
          "| sinter peak MB | torch peak MB | memory ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = {}
    for cfg in steps:
        for t in threads:
            s = summarize(runs(d, cfg, t, "sinter"), steps[cfg])
            p = summarize(runs(d, cfg, t, "torch"), steps[cfg])
            if not s or not p:
                continue
            rows[cfg, t] = (s, p)
            print(f"| {NAMES.get(cfg, cfg)} | {t} | {s['ms']:.2f} | {p['ms']:.2f} | {s['ms'] / p['ms']:.2f} "
                  f"| {s['mb']:.0f} | {p['mb']:.0f} | {s['mb'] / p['mb']:.2f} |")
    print()
    print("Medians over the repeats ({}); per run, median step time after the warm-up "
          "({}). Final loss (median): {}.".format(
              ", ".join(f"{NAMES.get(c, c).split()[0]}: {r[0]['n']}" for (c, t), r in rows.items() if t == threads[0]),
              ", ".join(f"{NAMES.get(c, c).split()[0]}: {warmup(n)} of {n} steps" for c, n in steps.items()),
              ", ".join(f"{NAMES.get(c, c).split()[0]} t{t} sinter {s['loss']:.3f} / torch {p['loss']:.3f}"
                        for (c, t), (s, p) in rows.items())))

    print()
    print("Spread over the repeats (ms/step, fastest and slowest run's median):")
    print()
    print("| config | threads | sinter min | sinter max | torch min | torch max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (c, t), (s, p) in rows.items():
        print(f"| {NAMES.get(c, c).split()[0]} | {t} | {s['min']:.2f} | {s['max']:.2f} | {p['min']:.2f} | {p['max']:.2f} |")

    g = sgemm(d)
    if "l" in steps and g:
        print()
        print("mlp_l GEMM throughput: FLOPs of the step's 8 GEMMs / step time, against "
              "cblas_sgemm alone on the same shapes (bench/sgemm).")
        print()
        print("| threads | GFLOP/step | sgemm ms/step | sgemm GFLOP/s | sinter GFLOP/s | torch GFLOP/s "
              "| sinter % of sgemm | torch % of sgemm |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for t in threads:
            if ("l", t) not in rows or t not in g:
                continue
            (s, p), (gms, gflop) = rows["l", t], g[t]
            peak, sg, pg = gflop / gms * 1e3, gflop / s['ms'] * 1e3, gflop / p['ms'] * 1e3
            print(f"| {t} | {gflop:.3f} | {gms:.2f} | {peak:.1f} | {sg:.1f} | {pg:.1f} "
                  f"| {100 * sg / peak:.0f}% | {100 * pg / peak:.0f}% |")


main()
