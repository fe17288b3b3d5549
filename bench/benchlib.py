"""benchlib.py — what the PyTorch sides and the reports of bench/ share.

Threads: Debian's torch runs float GEMMs through OpenBLAS, the library
sinter links, and torch.set_num_threads does not reach it; so
thread_env(n) sets OPENBLAS_NUM_THREADS and OMP_NUM_THREADS before torch is
imported (both libraries read them once, when their thread pools start),
and use_threads(torch, n) sets torch's intra-op threads and calls
openblas_set_num_threads.  libgomp's workers spin after a parallel region
by default and then take the cores from OpenBLAS's own threads: on 2 cores
that doubled the 2-thread mlp_l step.  Passive waiting is PyTorch at its
best here; set OMP_WAIT_POLICY=ACTIVE to see the default.

Run logs: one JSON line per step, {"step": N, "time": seconds since start,
"loss": ...}, from sinter's --log or from the torch scripts; step_time()
reads one, summarize() the repeats of one configuration (each log with the
peak RSS /usr/bin/time wrote beside it, NAME.rss for NAME.jsonl).
"""
import ctypes
import json
import os
import statistics
import sys
import time


def thread_env(n):
    """Before `import torch`: the thread counts its libraries start with."""
    os.environ["OPENBLAS_NUM_THREADS"] = str(n)
    os.environ["OMP_NUM_THREADS"] = str(n)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def openblas():
    """The OpenBLAS torch loaded (dlopen of a loaded soname returns it), or None."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib
    except OSError:
        return None


def use_threads(torch, n):
    """After `import torch`: n intra-op threads and n OpenBLAS threads; returns OpenBLAS."""
    torch.set_num_threads(n)
    blas = openblas()
    if blas is not None:
        blas.openblas_set_num_threads(n)
    return blas


def threads_line(torch, blas):
    """The thread set-up a torch side ran with, for its report line."""
    core = blas.openblas_get_corename().decode() if blas is not None else "?"
    blas_threads = blas.openblas_get_num_threads() if blas is not None else "?"
    return (f"threads torch={torch.get_num_threads()} openblas={blas_threads} core={core} "
            f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")


def train(steps, opt, batch_loss, log_path, t0):
    """The timed loop of the torch sides: for step = 1..steps, the loss of
    batch_loss(step), its gradients and one step of opt.  Each step is a
    run-log line at log_path (if given), timed from t0 (time.monotonic()).
    Returns the seconds since t0 at the end of each step, and the last loss."""
    log = open(log_path, "w") if log_path else None
    times, value = [], float("nan")
    for step in range(1, steps + 1):
        loss = batch_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        value = loss.item()
        times.append(time.monotonic() - t0)
        if log:
            log.write(json.dumps({"step": step, "time": times[-1], "loss": value}) + "\n")
    if log:
        log.close()
    return times, value


def warmup(steps):
    """Steps left out at the start of a run: compilation, first touches of memory."""
    return max(5, steps // 10)


def step_time(path, steps, who="report"):
    """Median seconds per step of one run log after the warm-up, and the last loss."""
    with open(path) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    if len(recs) != steps:
        sys.exit(f"{who}: {path} has {len(recs)} steps, expected {steps}")
    t = [r["time"] for r in recs]
    d = [b - a for a, b in zip(t, t[1:])]  # d[i] is the duration of step i + 2
    return statistics.median(d[warmup(steps) - 1:]), recs[-1]["loss"]


def summarize(logs, steps):
    """Medians over the repeats of one configuration (its run logs): ms/step,
    peak MB, last loss; their number; the fastest and the slowest run's
    ms/step.  None without logs."""
    if not logs:
        return None
    ms, mb, loss = [], [], []
    for log in logs:
        s, last = step_time(log, steps)
        ms.append(s * 1e3)
        loss.append(last)
        with open(log[:-len(".jsonl")] + ".rss") as f:
            mb.append(int(f.read().split()[-1]) / 1024)
    return {"ms": statistics.median(ms), "mb": statistics.median(mb), "loss": statistics.median(loss),
            "n": len(logs), "min": min(ms), "max": max(ms)}
