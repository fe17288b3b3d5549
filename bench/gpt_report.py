#!/usr/bin/python3
"""gpt_report.py — the GEMMs of one GPT training step, and the Markdown report
of bench/gpt_step.sh.

The step of bench/gpt_step.sn (B = 8, T = 128, C = 256, L = 4, H = 4,
vocabulary V; N = B*T tokens) runs these matrix products, written as
[m, k] @ [k, n] in sinter's layout (weights [in, out]):

  forward, per block: qkv       [N, C] @ [C, 3C]
                      scores    B*H times [T, D] @ [D, T]   (q @ k^T, D = C/H)
                      weighted  B*H times [T, T] @ [T, D]   (att @ v)
                      proj      [N, C] @ [C, C]
                      fc        [N, C] @ [C, 4C]
                      mlp proj  [N, 4C] @ [4C, C]
  forward, once:      tied head [N, C] @ [C, V]             (x @ wte^T)
  backward: for every product Y = A @ B, dA = dY @ B^T and dB = A^T @ dY,
            each with the FLOPs of the forward product (every operand
            needs its gradient: the embeddings are trained), so 2x forward.

A product of [m, k] and [k, n] is 2mkn FLOP; the attention products count
the full T x T square (the causal mask is applied after the product).

Two commands:

  gpt_report.py sgemm REPEATS V... -- THREADS...
      times cblas_sgemm (the OpenBLAS that sinter links, libopenblas.so.0,
      through ctypes; no NumPy, so no second BLAS is loaded) alone on every
      product of one step, for each vocabulary and thread count: per product
      the median over REPEATS passes of the whole list (after 3 warm-up
      passes), then the sum over the step: the floor.  sinter's generated
      code makes the same calls (one per batch index of a batched product),
      so its step cannot beat the floor; PyTorch may split a batched product
      over its threads differently.  Prints one JSON object.

  gpt_report.py report DIR STEPS
      reads what bench/gpt_step.sh left in DIR:
        v{V}_t{threads}_{sinter,torch}_r{rep}.jsonl  run logs (same format)
        v{V}_t{threads}_{sinter,torch}_r{rep}.rss    peak RSS in KB (/usr/bin/time -f %M)
        sgemm_r{rep}.json                            output of the sgemm command
      and prints the Markdown tables.  A run's step time is the median of
      the differences of consecutive "time" fields after the warm-up (the
      first max(5, STEPS // 10) steps: compilation, page faults, OpenBLAS
      buffers); every number of a table is the median over the repeats.
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

B, T, C, L, H = 8, 128, 256, 4, 4  # as in bench/gpt_step.sn
N, D = B * T, C // H
NO, TR = 111, 112  # CblasNoTrans, CblasTrans
ROW_MAJOR = 101


def step_gemms(vocab):
    """The products of one step: (name, m, n, k, trans_a, trans_b, calls,
    times per step).  trans_a: A is stored [k, m]; trans_b: B is stored
    [n, k].  calls: cblas_sgemm calls of one product (B*H for a batched one)."""
    bh = B * H
    fwd = [  # name, m, n, k, ta, tb, calls, times
        ("qkv", N, 3 * C, C, NO, NO, 1, L),
        ("scores q@kT", T, T, D, NO, TR, bh, L),
        ("weighted att@v", T, D, T, NO, NO, bh, L),
        ("attn proj", N, C, C, NO, NO, 1, L),
        ("mlp fc", N, 4 * C, C, NO, NO, 1, L),
        ("mlp proj", N, C, 4 * C, NO, NO, 1, L),
        ("tied head", N, vocab, C, NO, TR, 1, 1),
    ]
    out = []
    for name, m, n, k, ta, tb, calls, times in fwd:
        out.append(("fwd " + name, m, n, k, ta, tb, calls, times))
        # Y[m, n] = A[m, k] @ B[k, n]: dA[m, k] = dY @ B^T, dB[k, n] = A^T @ dY
        out.append(("bwd dA " + name, m, k, n, NO, TR if tb == NO else NO, calls, times))
        out.append(("bwd dB " + name, k, n, m, TR if ta == NO else NO, NO, calls, times))
    return out


def gflop(vocab):
    return sum(2.0 * m * n * k * calls * times for _, m, n, k, _, _, calls, times in step_gemms(vocab)) * 1e-9


def forward_gflop(vocab):
    return sum(2.0 * m * n * k * calls * times
               for name, m, n, k, _, _, calls, times in step_gemms(vocab) if name.startswith("fwd")) * 1e-9


# ---------------------------------------------------------------- sgemm

def sgemm_command(argv):
    reps = int(argv[0])
    sep = argv.index("--")
    vocabs = [int(v) for v in argv[1:sep]]
    threads = [int(t) for t in argv[sep + 1:]]
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.openblas_get_corename.restype = ctypes.c_char_p
    blas.openblas_get_config.restype = ctypes.c_char_p
    f = blas.cblas_sgemm
    f.restype = None
    f.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                       ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    rng = random.Random(12345)
    block = array.array("f", (rng.random() - 0.5 for _ in range(4099)))  # odd length: no aligned repeats

    def matrix(count):
        a = block * (count // len(block) + 1)
        return a, a.buffer_info()[0]

    # one entry per distinct product (the head differs with V); its operands
    # per call, as the batched products read a different slice per call
    kinds = {}
    for v in vocabs:
        for g in step_gemms(v):
            kinds.setdefault(g[:7], None)
    keep = []  # the arrays must outlive the pointers
    ops = {}
    for kind in kinds:
        name, m, n, k, ta, tb, calls = kind
        lda = m if ta == TR else k
        ldb = k if tb == TR else n
        per = []
        for _ in range(calls):
            a, pa = matrix(m * k)
            b, pb = matrix(k * n)
            c, pc = matrix(m * n)
            keep += [a, b, c]
            per.append((pa, pb, pc))
        ops[kind] = (lda, ldb, per)

    def run(kind):
        name, m, n, k, ta, tb, calls = kind
        lda, ldb, per = ops[kind]
        for pa, pb, pc in per:
            f(ROW_MAJOR, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, 0.0, pc, n)

    result = {"openblas": "%s (core %s)" % (blas.openblas_get_config().decode(), blas.openblas_get_corename().decode()),
              "repeats": reps, "threads": {}}
    for t in threads:
        blas.openblas_set_num_threads(t)
        for _ in range(3):
            for kind in kinds:
                run(kind)
        samples = {kind: [] for kind in kinds}
        for _ in range(reps):
            for kind in kinds:
                t0 = time.perf_counter()
                run(kind)
                samples[kind].append(time.perf_counter() - t0)
        med = {kind: statistics.median(s) for kind, s in samples.items()}
        per_v = {}
        for v in vocabs:
            rows = []
            for g in step_gemms(v):
                name, m, n, k, ta, tb, calls, times = g
                rows.append({"name": name, "m": m, "n": n, "k": k, "calls": calls, "times": times,
                             "ms": med[g[:7]] * 1e3, "gflop": 2.0 * m * n * k * calls * times * 1e-9})
            per_v[str(v)] = {"ms": sum(r["ms"] * r["times"] for r in rows), "gflop": gflop(v), "gemms": rows}
        result["threads"][str(t)] = per_v
    json.dump(result, sys.stdout, indent=1)
    print()


# ---------------------------------------------------------------- report



def runs(d, v, t, impl):
    return sorted(glob.glob(os.path.join(d, f"v{v}_t{t}_{impl}_r*.jsonl")))


def floors(d):
    """{(V, threads): (median sgemm ms/step, GFLOP)} over the sgemm rounds,
    and the last round's whole output."""
    per, last = {}, None
    for path in sorted(glob.glob(os.path.join(d, "sgemm_r*.json"))):
        with open(path) as f:
            last = json.load(f)
        for t, by_v in last["threads"].items():
            for v, x in by_v.items():
                per.setdefault((int(v), int(t)), []).append((x["ms"], x["gflop"]))
    return {k: (statistics.median(x[0] for x in s), s[0][1]) for k, s in per.items()}, last


def report_command(argv):
    d, steps = argv[0], int(argv[1])
    names = " ".join(os.listdir(d))
    vocabs = sorted({int(m) for m in re.findall(r"\bv(\d+)_t\d+_", names)})
    threads = sorted({int(m) for m in re.findall(r"\bv\d+_t(\d+)_", names)})
    rows = {}
    for v in vocabs:
        for t in threads:
            s, p = summarize(runs(d, v, t, "sinter"), steps), summarize(runs(d, v, t, "torch"), steps)
            if s and p:
                rows[v, t] = s, p

    print("| config | threads | sinter ms/step | torch ms/step | ratio sinter/torch "
          "| sinter peak MB | torch peak MB | memory ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (v, t), (s, p) in rows.items():
        print(f"| GPT V={v} | {t} | {s['ms']:.1f} | {p['ms']:.1f} | {s['ms'] / p['ms']:.2f} "
              f"| {s['mb']:.0f} | {p['mb']:.0f} | {s['mb'] / p['mb']:.2f} |")
    n = min((s["n"] for s, _ in rows.values()), default=0)
    print()
    print(f"GPT: T={T}, C={C}, L={L}, H={H}, batch {B}, AdamW; medians over {n} repeats; per run, the "
          f"median step after the warm-up ({warmup(steps)} of {steps} steps).  Last loss (median; random "
          "tokens, so only a sanity check): " +
          ", ".join(f"V={v} t{t} sinter {s['loss']:.3f} / torch {p['loss']:.3f}" for (v, t), (s, p) in rows.items())
          + ".")
    print()
    print("Spread over the repeats (ms/step, the fastest and the slowest run's median):")
    print()
    print("| config | threads | sinter min | sinter max | torch min | torch max |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for (v, t), (s, p) in rows.items():
        print(f"| GPT V={v} | {t} | {s['min']:.1f} | {s['max']:.1f} | {p['min']:.1f} | {p['max']:.1f} |")

    fl, _ = floors(d)
    print()
    print("Matrix products: GFLOP of one step (forward GEMMs of qkv, attention scores and weighted sum, "
          "projection, MLP fc and proj, tied head; backward 2x forward), the floor (cblas_sgemm alone on "
          "the same products, `gpt_report.py sgemm`), and the step's achieved GFLOP/s against it.")
    print()
    print("| config | threads | GFLOP/step (fwd) | floor ms/step | sgemm GFLOP/s | sinter GFLOP/s "
          "| torch GFLOP/s | sinter step / floor | torch step / floor |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (v, t), (s, p) in rows.items():
        g = gflop(v)
        if (v, t) in fl:
            fms = fl[v, t][0]
            print(f"| GPT V={v} | {t} | {g:.2f} ({forward_gflop(v):.2f}) | {fms:.0f} | {g / fms * 1e3:.1f} "
                  f"| {g / s['ms'] * 1e3:.1f} | {g / p['ms'] * 1e3:.1f} | {s['ms'] / fms:.2f}x | {p['ms'] / fms:.2f}x |")
        else:
            print(f"| GPT V={v} | {t} | {g:.2f} ({forward_gflop(v):.2f}) | - | - "
                  f"| {g / s['ms'] * 1e3:.1f} | {g / p['ms'] * 1e3:.1f} | - | - |")


def sgemm_table(argv):
    """The per-product floor of the last sgemm round, as text: per thread
    count every product once (only the tied head depends on V)."""
    _, last = floors(argv[0])
    if last is None:
        return
    print(f"openblas: {last['openblas']}; median of {last['repeats']} passes per product")
    for t, by_v in last["threads"].items():
        print(f"\nthreads={t}: " + "; ".join(f"V={v} {x['ms']:.1f} ms/step, {x['gflop']:.3f} GFLOP, "
                                            f"{x['gflop'] / x['ms'] * 1e3:.1f} GFLOP/s" for v, x in by_v.items()))
        print(f"{'product':22s} {'m':>5s} {'n':>5s} {'k':>5s} {'calls':>5s} {'x':>2s} {'ms':>8s} {'GFLOP/s':>8s}")
        for i, (v, x) in enumerate(by_v.items()):
            for r in x["gemms"]:
                head = "head" in r["name"]
                if i and not head:
                    continue
                name = r["name"] + (f" V={v}" if head else "")
                print(f"{name:22s} {r['m']:5d} {r['n']:5d} {r['k']:5d} {r['calls']:5d} {r['times']:2d} "
                      f"{r['ms']:8.3f} {r['gflop'] / r['times'] / r['ms'] * 1e3:8.1f}")


def main():
    cmds = {"sgemm": sgemm_command, "report": report_command, "sgemm-table": sgemm_table}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit("usage: gpt_report.py sgemm REPEATS V... -- THREADS... | report DIR STEPS | sgemm-table DIR")
    cmds[sys.argv[1]](sys.argv[2:])


main()
