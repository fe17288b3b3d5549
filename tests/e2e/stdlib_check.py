#!/usr/bin/env python3
"""stdlib_check.py — end-to-end tests of the standard library through `sinter run`.

Runs tests/e2e/stdlib_optim.sn, tests/e2e/stdlib_values.sn,
tests/e2e/stdlib_shadow.sn and examples/linreg.sn and checks every number they
print against references computed here, in plain
Python (float64), from the PyTorch definitions of each optimizer, schedule,
activation, normalization and loss.  The references are written from those
definitions, not from the .sn code, so a wrong stdlib formula shows up.

Usage:  python3 tests/e2e/stdlib_check.py [--sinter PATH]     (from any directory)
Prints "PASS name" or "FAIL name: reason" per check; exits 1 if any failed.

Output protocol of the .sn files: a line "@ key..." opens a record whose
values are all numbers printed up to the next "@" line.  Numbers are pulled
out of whatever format print uses for tensors (dtype/shape tags such as
"f32[3, 4]" are ignored).
"""
import argparse
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTOL, ATOL = 2e-4, 2e-5   # results are f32; references float64

report = Checks()


# ---- running sinter and reading its output ----

TYPE_TAG = re.compile(r"\b(?:f32|i32|bool)\b\s*(?:\[[^\]]*\])?")
NUMBER = re.compile(r"(?<![A-Za-z_0-9.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
                    r"|(?<![A-Za-z_])[-+]?(?:nan|inf)(?![A-Za-z_])", re.I)


def numbers(text):
    return [float(m) for m in NUMBER.findall(TYPE_TAG.sub(" ", text))]


def run(sinter, path):
    """Runs one file; returns (stdout, error message or None)."""
    try:
        p = subprocess.run([sinter, "run", path], cwd=ROOT, capture_output=True,
                           text=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "", f"cannot run {sinter} run {path}: {e}"
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no message)"])[-3:]
        return p.stdout, f"exit status {p.returncode}: " + " | ".join(tail)
    return p.stdout, None


def run_checked(sinter, path, name):
    """The output of one file; None, after a FAIL line for name, when it does not run."""
    out, err = run(sinter, path)
    if err:
        report(name, False, err)
        return None
    return out


def records(out):
    """{key tuple: [numbers]} from the "@ key" protocol."""
    recs, key = {}, None
    for line in out.splitlines():
        s = line.strip()
        if s.startswith("@"):
            key = tuple(tok.strip('",\'') for tok in s[1:].split())
            key = tuple(int(k) if re.fullmatch(r"-?\d+", k) else k for k in key)
            recs[key] = []
        elif key is not None:
            recs[key].extend(numbers(s))
    return recs


def close(got, want, rtol=RTOL, atol=ATOL):
    if len(got) != len(want):
        return f"expected {len(want)} values, got {len(got)}: {got[:8]}"
    for i, (g, w) in enumerate(zip(got, want)):
        if not (abs(g - w) <= atol + rtol * abs(w)):
            return f"element {i}: got {g!r}, want {w!r}"
    return None


# ---- references: optimizers (torch.optim update rules) ----

QA = [1.0, 2.0, 0.5, 3.0]
QC = [1.0, -1.0, 2.0, 0.0]


def quad_grad(p):
    return [a * (x - c) for a, x, c in zip(QA, p, QC)]


def sgd_ref(steps, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0,
            lr_at=None):
    p, buf, out = [0.5] * 4, None, []
    for k in range(steps):
        rate = lr_at(k) if lr_at else lr
        g = [gi + weight_decay * pi for gi, pi in zip(quad_grad(p), p)]
        if momentum != 0:
            if buf is None:
                buf = list(g)
            else:
                buf = [momentum * b + (1 - dampening) * gi for b, gi in zip(buf, g)]
            g = [gi + momentum * b for gi, b in zip(g, buf)] if nesterov else list(buf)
        p = [pi - rate * gi for pi, gi in zip(p, g)]
        out.append(p)
    return out


def adam_ref(steps, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v, out = [0.5] * 4, [0.0] * 4, [0.0] * 4, []
    for t in range(1, steps + 1):
        g = quad_grad(p)
        if decoupled:
            p = [pi * (1 - lr * weight_decay) for pi in p]
        else:
            g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
        v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(v, g)]
        step = lr / (1 - beta1 ** t)
        denom = [math.sqrt(vi) / math.sqrt(1 - beta2 ** t) + eps for vi in v]
        p = [pi - step * mi / d for pi, mi, d in zip(p, m, denom)]
        out.append(p)
    return out


def lion_ref(steps, lr, beta1=0.9, beta2=0.99, weight_decay=0.0):
    p, m, out = [0.5] * 4, [0.0] * 4, []
    for _ in range(steps):
        g = quad_grad(p)
        c = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
        p = [pi * (1 - lr * weight_decay) - lr * math.copysign(1.0, ci) for pi, ci in zip(p, c)]
        m = [beta2 * mi + (1 - beta2) * gi for mi, gi in zip(m, g)]
        out.append(p)
    return out


def rmsprop_ref(steps, lr, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    p, sq, buf, out = [0.5] * 4, [0.0] * 4, [0.0] * 4, []
    for _ in range(steps):
        g = [gi + weight_decay * pi for gi, pi in zip(quad_grad(p), p)]
        sq = [alpha * s + (1 - alpha) * gi * gi for s, gi in zip(sq, g)]
        avg = [math.sqrt(s) + eps for s in sq]
        if momentum > 0:
            buf = [momentum * b + gi / a for b, gi, a in zip(buf, g, avg)]
            p = [pi - lr * b for pi, b in zip(p, buf)]
        else:
            p = [pi - lr * gi / a for pi, gi, a in zip(p, g, avg)]
        out.append(p)
    return out


# ---- references: schedules ----

def cosine_ref(step, total, peak, warmup=0, min_lr=0.0):
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(total - warmup, 1)
    return min_lr + (peak - min_lr) * (1 + math.cos(math.pi * progress)) / 2


def one_cycle_ref(step, total, max_lr, pct_start=0.3, div_factor=25.0, final_div=1e4):
    # torch.optim.lr_scheduler.OneCycleLR.get_lr, anneal_strategy="cos", two phases
    initial = max_lr / div_factor
    min_lr = initial / final_div
    phases = [(float(pct_start * total) - 1, initial, max_lr), (total - 1, max_lr, min_lr)]
    start = 0
    for i, (end, a, b) in enumerate(phases):
        if step <= end or i == len(phases) - 1:
            pct = (step - start) / (end - start)
            return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
        start = end


def wsd_ref(step, total, peak, warmup, decay_frac=0.2):
    decay_len = decay_frac * total
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return 0.0
    if step >= total - decay_len:
        return peak * (total - step) / decay_len
    return peak


SCHEDULES = {
    "cosine": lambda s: cosine_ref(s, 20, 1.0, warmup=5, min_lr=0.1),
    "cosine_nowarmup": lambda s: cosine_ref(s, 20, 2.0),
    "linear_warmup": lambda s: 0.5 * min((s + 1) / 6, 1.0),
    "step_decay": lambda s: 1.0 * 0.1 ** (s // 5),
    "wsd": lambda s: wsd_ref(s, 20, 1.0, 4),
    "one_cycle": lambda s: one_cycle_ref(s, 20, 1.0),
}


def check_optim(sinter):
    out = run_checked(sinter, "tests/e2e/stdlib_optim.sn", "e2e stdlib_optim.sn runs")
    if out is None:
        return
    recs = records(out)
    steps = 8
    refs = {
        "sgd": sgd_ref(steps, 0.1),
        "sgd_momentum": sgd_ref(steps, 0.1, momentum=0.9),
        "sgd_dampening": sgd_ref(steps, 0.1, momentum=0.9, dampening=0.5, weight_decay=0.01),
        "sgd_nesterov": sgd_ref(steps, 0.05, momentum=0.9, nesterov=True),
        "sgd_step_decay": sgd_ref(steps, None, lr_at=lambda k: 0.1 * 0.5 ** (k // 3)),
        "adam": adam_ref(steps, 0.1),
        "adam_l2": adam_ref(steps, 0.1, beta1=0.8, beta2=0.99, weight_decay=0.1),
        "adamw": adam_ref(steps, 0.1, weight_decay=0.1, decoupled=True),
        "lion": lion_ref(steps, 0.01, weight_decay=0.1),
        "rmsprop": rmsprop_ref(steps, 0.01),
        "rmsprop_momentum": rmsprop_ref(steps, 0.01, alpha=0.9, momentum=0.9, weight_decay=0.1),
    }
    for name, traj in refs.items():
        why = None
        for k, want in enumerate(traj):
            got = recs.get(("opt", name, k))
            why = f"no output for step {k}" if got is None else close(got, want)
            if why:
                why = f"after step {k + 1}: {why}"
                break
        report(f"e2e optimizer {name}", why is None, why)
    for name, fn in SCHEDULES.items():
        why = None
        n = 20 if name == "one_cycle" else 24
        for s in range(n):
            got = recs.get(("sched", name, s))
            why = f"no output" if got is None else close(got, [fn(s)], rtol=1e-5, atol=1e-9)
            if why:
                why = f"step {s}: {why}"
                break
        report(f"e2e schedule {name}", why is None, why)


# ---- references: activations, normalizations, losses ----

X = [[0.7 * (4 * i + j) - 3.0 for j in range(4)] for i in range(3)]
Y = [0, 2, 0]
TGT = [[(4 * i + j) / 11 for j in range(4)] for i in range(3)]


def flat(rows):
    return [v for r in rows for v in r]


def cols(rows):
    return [list(c) for c in zip(*rows)]


def softmax_rows(rows):
    out = []
    for r in rows:
        m = max(r)
        e = [math.exp(v - m) for v in r]
        s = sum(e)
        out.append([v / s for v in e])
    return out


def log_softmax_rows(rows):
    out = []
    for r in rows:
        m = max(r)
        lse = m + math.log(sum(math.exp(v - m) for v in r))
        out.append([v - lse for v in r])
    return out


def gelu_tanh(v):
    return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))


def layernorm_rows(rows, eps=1e-5):
    out = []
    for r in rows:
        mu = sum(r) / len(r)
        var = sum((v - mu) ** 2 for v in r) / len(r)
        out.append([(v - mu) / math.sqrt(var + eps) for v in r])
    return out


def rmsnorm_rows(rows, eps=1e-6):
    return [[v / math.sqrt(sum(u * u for u in r) / len(r) + eps) for v in r] for r in rows]


def cross_entropy_ref(rows, labels):
    lp = log_softmax_rows(rows)
    return sum(-lp[i][y] for i, y in enumerate(labels)) / len(labels)


def bce_ref(x, t):
    # -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), in the stable log1p form
    def softplus(z):
        return max(z, 0.0) + math.log1p(math.exp(-abs(z)))
    vals = [ti * softplus(-xi) + (1 - ti) * softplus(xi) for xi, ti in zip(x, t)]
    return sum(vals) / len(vals)


def check_values(sinter):
    out = run_checked(sinter, "tests/e2e/stdlib_values.sn", "e2e stdlib_values.sn runs")
    if out is None:
        return
    recs = records(out)
    x = flat(X)
    big = [[1000 * v for v in r] for r in X]
    labels = [(3 * i) % 4 for i in range(3)]
    argmax = [max(range(4), key=lambda j: r[j]) for r in X]
    want = {
        "gelu": [gelu_tanh(v) for v in x],
        "gelu_exact": [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x],
        "silu": [v / (1 + math.exp(-v)) for v in x],
        "softmax": flat(softmax_rows(X)),
        "softmax_axis0": flat(cols(softmax_rows(cols(X)))),
        "log_softmax": flat(log_softmax_rows(X)),
        "log_softmax_axis0": flat(cols(log_softmax_rows(cols(X)))),
        "softmax_large": flat(softmax_rows(big)),
        "layernorm": flat(layernorm_rows(X)),
        "rmsnorm": flat(rmsnorm_rows(X)),
        "cross_entropy": [cross_entropy_ref(X, Y)],
        "cross_entropy_3d": [cross_entropy_ref(X, Y)],
        "mse": [sum((a - b) ** 2 for a, b in zip(x, flat(TGT))) / 12],
        "bce": [bce_ref(x, flat(TGT))],
        "bce_large": [bce_ref([100 * v for v in x], flat(TGT))],
        "accuracy": [sum(a == b for a, b in zip(argmax, labels)) / 3],
    }
    for name, w in want.items():
        got = recs.get((name,))
        why = "no output" if got is None else close(got, w, rtol=1e-4, atol=1e-5)
        report(f"e2e value {name}", why is None, why)
    expected = ["linear_nobias", "linear_nobias_none", "conv_nobias_none", "linear_bias", "embedding",
                "attention_reference",
                "attention_causal", "block"]
    for name in expected:
        got = recs.get(("zero", name))
        why = "no output" if got is None else close(got, [0.0], rtol=0, atol=1e-4)
        report(f"e2e identity {name}", why is None, why)


def check_linreg(sinter):
    out = run_checked(sinter, "examples/linreg.sn", "e2e examples/linreg.sn runs")
    if out is None:
        return
    line = next((l for l in out.splitlines() if "max abs error" in l), None)
    if line is None:
        report("e2e linreg recovers the weights", False, "no 'max abs error' line")
        return
    errs = numbers(line)
    ok = len(errs) == 2 and all(e < 0.02 for e in errs)
    report("e2e linreg recovers the weights", ok, f"errors {errs} (want 2 values < 0.02)")


def check_shadow(sinter):
    # A user model named like a stdlib model must not replace the one the
    # stdlib uses internally (Block builds the stdlib's Mlp).
    out = run_checked(sinter, "tests/e2e/stdlib_shadow.sn", "e2e user Mlp leaves stdlib Block intact")
    if out is None:
        return
    recs = records(out)
    got = recs.get(("zero", "block_with_user_mlp"))
    why = "no output" if got is None else close(got, [0.0], rtol=0, atol=1e-4)
    report("e2e user Mlp leaves stdlib Block intact", why is None, why)
    got = recs.get(("user_mlp_shape",))
    report("e2e user Mlp shadows stdlib Mlp", got == [2, 4, 3],
           f"output shape {got}, want [2, 4, 3]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sinter", default=os.path.join(ROOT, "sinter"))
    args = ap.parse_args()
    sinter = os.path.abspath(args.sinter)
    check_optim(sinter)
    check_values(sinter)
    check_shadow(sinter)
    check_linreg(sinter)
    print(f"{report.failures} failed" if report.failures else "all passed")
    return report.status()


if __name__ == "__main__":
    sys.exit(main())
