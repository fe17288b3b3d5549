#!/usr/bin/env python3
"""spec_check.py — checks the output of the tests/spec programs (run by
tests/e2e/spec.sh, which passes the folder holding their outputs).

Every expected value is recomputed here in plain Python from what the
program computes (Python's own arithmetic for host code, loops over lists
for tensors, the PyTorch definitions for schedules and initializers), or
is an obvious property (the loss falls, loaded weights equal saved ones).
Prints "PASS name" or "FAIL name: reason" per check; exits 1 if any failed.

Output protocol of the programs: each line is "key value value ...", values
printed as sinter's print does (lists and tensors as [a, b], true/false).
"""
import gzip
import json
import math
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

OUT = sys.argv[1]
SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "spec")
report = Checks("spec ")


# ---- reading outputs ----

def parse_values(text):
    """The values of one printed line: numbers, true/false, words, [lists]."""
    pos = 0

    def skip():
        nonlocal pos
        while pos < len(text) and text[pos] == " ":
            pos += 1

    def atom(tok):
        if tok == "true":
            return True
        if tok == "false":
            return False
        try:
            return int(tok)
        except ValueError:
            pass
        try:
            return float(tok)
        except ValueError:
            return tok

    def value():
        nonlocal pos
        skip()
        if text[pos] == "[":
            pos += 1
            items = []
            skip()
            if text[pos] == "]":
                pos += 1
                return items
            while True:
                items.append(value())
                skip()
                c = text[pos]
                pos += 1
                if c == "]":
                    return items
                if c != ",":
                    raise ValueError(f"bad list near {text[pos - 10:pos + 10]!r}")
        start = pos
        while pos < len(text) and text[pos] not in " ,]":
            pos += 1
        return atom(text[start:pos])

    vals = []
    skip()
    while pos < len(text):
        vals.append(value())
        skip()
    return vals


class Run:
    """One program's run: exit status, stderr and lines by key."""

    def __init__(self, name):
        self.name = name
        rd = lambda ext: open(os.path.join(OUT, f"{name}.{ext}")).read()
        self.rc = int(rd("rc").strip() or "1")
        self.err = rd("err")
        self.text = rd("out")
        self.lines = {}
        for line in self.text.splitlines():
            key, _, rest = line.partition(" ")
            self.lines.setdefault(key, []).append(rest)

    def ok(self):
        if self.rc != 0:
            first = self.err.strip().splitlines()[:1]
            report(f"{self.name} runs", False, f"exit {self.rc}: {first[0] if first else 'no message'}")
            return False
        return True

    def raw(self, key, i=0):
        return self.lines[key][i]

    def vals(self, key, i=0):
        return parse_values(self.lines[key][i])

    def all(self, key):
        return [parse_values(t) for t in self.lines.get(key, [])]


def close(a, b, rtol=1e-5, atol=1e-6):
    """Equal values (nested lists), floats within tolerance, kinds equal."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
            all(close(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b and isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and math.isnan(a)
    return abs(a - b) <= atol + rtol * abs(b)


def check_vals(run, key, expect, rtol=1e-5, atol=1e-6, i=0):
    try:
        got = run.vals(key, i)
    except (KeyError, IndexError):
        report(f"{run.name} {key}", False, "not printed")
        return
    except ValueError as e:
        report(f"{run.name} {key}", False, str(e))
        return
    report(f"{run.name} {key}", close(got, expect, rtol, atol), f"got {got}, expected {expect}")


def py_text(v):
    """A Python value as sinter's print shows it (Python's repr for floats)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(py_text(x) for x in v) + "]"
    return str(v)


def check_text(run, key, expect):
    """The exact printed text of a line against Python values."""
    want = " ".join(py_text(v) for v in expect)
    got = run.lines.get(key, [None])[0]
    report(f"{run.name} {key}", got == want, f"got {got!r}, expected {want!r}")


def safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
    head.pop("__metadata__", None)
    return {k: v["shape"] for k, v in head.items()}


def shape(x):
    s = []
    while isinstance(x, list):
        s.append(len(x))
        x = x[0]
    return s


# ---- lexical.sn ----

r = Run("lexical")
if r.ok():
    check_text(r, "ints", [128, 0, 7])
    check_text(r, "floats", [0.5, 1e-3, 3., 2.5e2, 1E2])
    report("lexical escapes", "escapes a\\b q\"q x\ny\n" in r.text, "escapes \\\\ \\\" \\n not decoded")
    check_text(r, "bools", [True, False])
    check_text(r, "semicolons", [3])
    check_text(r, "continued", [3, 6, 3, 3])

# ---- host_arith.sn: the same expressions in Python ----

r = Run("host_arith")
if r.ok():
    check_text(r, "div", [7 / 2, 6 / 3, -7 / 2, 1 / 3])
    check_text(r, "floordiv", [7 // 2, -7 // 2, 7 // -2, -7 // -2, 7.5 // 2, -7.5 // 2])
    check_text(r, "mod", [7 % 3, -7 % 3, 7 % -3, -7 % -3, 7.5 % 2, -7.5 % 2, 7.5 % -2])
    check_text(r, "pow", [2 ** 3 ** 2, 2 ** -1, -2 ** 2, (-2) ** 2, 2.0 ** 3, 4 ** 0.5])
    check_text(r, "prec", [2 + 3 * 4, 10 - 3 - 2, 2 * 3 ** 2, -3 ** 2 + 1, 100 / 10 / 5, 7 - -2])
    check_text(r, "cmp", [1 < 2, 2 <= 1, 3 == 3.0, 2 != 2, 5 >= 5, 4 > 4.5])
    check_text(r, "logic", [True and False, True or False, not True, not 1 < 2, 1 < 2 and 3 < 4])
    g = "hello" + ", " + "world"
    check_text(r, "strings", [g, len(g), "ab" + "cd", "x" == "x", "x" != "y"])
    check_text(r, "const", [1 / 2])
    check_text(r, "floats", [0.1 + 0.2, 1e16, 1e15, 0.0001, 0.00001, 100.0, 1 / 3 * 3, 2.5e-7])
    check_text(r, "conv", [int(3.7), int(-3.7), float(2), str(12) + "!", int(True)])
    check_text(r, "builtins", [max(1, 5, 3), min(4, 2.5), abs(-3), abs(-2.5), math.exp(0), math.sqrt(16),
                               max(2, 3.5), min(2, 3.5)])
    check_text(r, "where", [1, 2])
    x = 5
    x = x * 2 + 1
    check_text(r, "vars", [x, x / 2, x // 2, x % 4])
    check_text(r, "list", [[1, 2.5, "s", True], 3])
    check_text(r, "int64", [(-2 ** 63) % -1, (2 ** 63 - 1) // -1, (-2) ** 63, 3 ** 39, (-1) ** 1000001,
                            abs(-(2 ** 63 - 1)), 2 ** 63 - 1, int(-9.2e18)])
    big = 2 ** 63 - 1
    check_text(r, "int64cmp", [big == big - 1, big - 1 < big, max(big - 1, big), min(big, big - 1), max(big - 1, big)])

# ---- tensors.sn: x[i][j][k] = 12 i + 4 j + k ----

r = Run("tensors")
if r.ok():
    X = [[[float(12 * i + 4 * j + k) for k in range(4)] for j in range(3)] for i in range(2)]
    x00 = X[0][0]
    dot = lambda a, b: sum(p * q for p, q in zip(a, b))
    check_vals(r, "x", [X])
    check_vals(r, "slice", [[[X[i][j][-1] for j in range(2)] for i in range(2)]])
    check_vals(r, "slice_step", [[[X[1][j][k] for k in range(1, 4, 2)] for j in range(3)]])
    check_vals(r, "slice_open", [[[X[0][j][k] for k in range(2)] for j in range(1, 3)]])
    check_vals(r, "elem", [X[-1][-1][-2], X[0][1][2]])
    check_vals(r, "T_shape", [[2, 4, 3]])
    check_vals(r, "T0", [[[X[0][j][k] for j in range(3)] for k in range(4)]])
    check_vals(r, "matmul", [[[[dot(X[b][i], X[b][j]) for j in range(3)] for i in range(3)] for b in range(2)]])
    check_vals(r, "matvec", [[[sum(X[b][i]) for i in range(3)] for b in range(2)]])
    check_vals(r, "vecmat", [[[sum(X[b][i][k] for i in range(3)) for k in range(4)] for b in range(2)]])
    check_vals(r, "matmul_bcast", [[2, 3, 2], [5, 2, 2, 4]])
    check_vals(r, "sum_all", [sum(v for p in X for q in p for v in q)])
    check_vals(r, "sum_ax1", [[[sum(X[b][j][k] for j in range(3)) for k in range(4)] for b in range(2)]])
    check_vals(r, "sum_ax02", [[sum(X[b][j][k] for b in range(2) for k in range(4)) for j in range(3)]])
    check_vals(r, "sum_keep", [[2, 3, 1]])
    check_vals(r, "mean", [276 / 24, [[(X[0][j][k] + X[1][j][k]) / 2 for k in range(4)] for j in range(3)]])
    check_vals(r, "max", [[[max(X[b][j]) for j in range(3)] for b in range(2)], 0.0])
    masked = [[[v * (v % 3 == 1) for v in row] for row in p] for p in X]
    check_vals(r, "argmax", [[[row.index(max(row)) for row in p] for p in masked]])
    count = sum(v > 10 for p in X for q in p for v in q)
    check_vals(r, "bool_sum", [count, [[int(X[0][j][k] > 10) + int(X[1][j][k] > 10) for k in range(4)]
                                       for j in range(3)]])
    report("tensors bool_sum is an int", r.raw("bool_sum").split()[0] == str(count), r.raw("bool_sum"))
    check_vals(r, "cmp", [[v == 1 for v in x00], [v != 1 for v in x00], [v <= 1 for v in x00], [v >= 2 for v in x00]])
    check_vals(r, "logic", [[0 < v < 3 for v in x00], [v < 1 or v > 2 for v in x00], [not v > 1 for v in x00]])
    check_vals(r, "reshape", [[4, 6], [24]])
    check_vals(r, "transpose", [[4, 2, 3], X[1][2][3], [4, 3, 2]])
    check_vals(r, "broadcast", [[2, 3, 4], [[0.0, 1.0, 2.0]] * 2])
    check_vals(r, "concat", [[2, 6, 4], (X[0] + X[1])[3][1]])
    table = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    check_vals(r, "take", [[table[2], table[0], table[2]]])
    check_vals(r, "one_hot", [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    check_vals(r, "zeros", [[0.0, 0.0], [[1.0], [1.0]], [7, 7], [0.5, 0.5]])
    check_vals(r, "arange", [list(range(4)), list(range(2, 5))])
    check_vals(r, "tril", [[[1.0 if j <= i else 0.0 for j in range(3)] for i in range(3)]])
    check_vals(r, "where", [[[v if v > 5 else -1.0 for v in row] for row in X[0]]])
    check_vals(r, "maximum", [[max(v, 2.0) for v in x00], [min(v, 2.5) for v in x00]])
    check_vals(r, "casts", [[int(v / 3) for v in x00], [i / 2 for i in range(3)], int(-1.5)])
    check_vals(r, "floordiv", [[(v - 2) // 3 for v in x00], [(i - 2) // 2 for i in range(5)],
                               [(i - 2) % 3 for i in range(5)], [(v - 2) % 3 for v in x00]])
    check_vals(r, "pow", [[v ** 2 for v in x00], [2 ** v for v in x00], [2 ** v ** 2 for v in x00],
                          [-v ** 2 for v in x00]])
    sign = lambda v: (v > 0) - (v < 0)
    check_vals(r, "unary", [[1.0], [0.0], [3.0], [0.5], [abs(v - 2) for v in x00], [float(sign(v - 2)) for v in x00],
                            [max(v - 2, 0.0) for v in x00]])
    check_vals(r, "trans", [[0.5], [0.0], [0.0], [1.0], [0.0]])
    check_vals(r, "int_arith", [[2 * i + 1 for i in range(4)], [i / 2 for i in range(4)]])
    check_vals(r, "stop_gradient", [X[1][2]])
    rand = r.vals("rand")
    report("tensors rand in [0, 1), mean 1/2", rand[:2] == [True, True] and abs(rand[2] - 0.5) < 0.02, str(rand))
    randn = r.vals("randn")
    report("tensors randn mean 0, variance 1", abs(randn[0]) < 0.05 and abs(randn[1] - 1) < 0.1, str(randn))
    check_vals(r, "dropout_eval", [100.0])
    check_vals(r, "host", [276 / 2, True, 277.0])
    check_vals(r, "len", [2, 3])
    check_vals(r, "nested", [[2 * v for v in x00], 276.0, 5])

# ---- functions.sn (-D D=8, and the default D = 256) ----

r = Run("functions")
if r.ok():
    check_vals(r, "const", [8, "spec-run", 3, 16])
    check_vals(r, "import", [3 * 3 + 1, 2 * 2 + 10])
    gelu = lambda x: 0.5 * x * (1 + math.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))
    check_vals(r, "gelu", [gelu(1.0), [0.0, 0.0]], rtol=1e-12)
    check_vals(r, "linear", [[2, 8], sum([3.0, 4.0, 5.0]) + 2])
    check_vals(r, "tuple", [2.0, sum((i - 2.0) ** 2 for i in range(5)) / 5])
    check_vals(r, "for", [1.5 * 2 ** 4, [8.0, 8.0]])
    check_vals(r, "if", [101, -99, [101.0]])
    check_vals(r, "dims", [[5.0, 5.0], [1.0] * 4])
    check_vals(r, "stack", [[8.0, 8.0]])
    check_vals(r, "types", [[0.0, 2.5, 2.5], [0.0, 0.0, 1.5]])
    check_vals(r, "hostfn", [1.5 * 1.5 + 1 + 1.0 + 3, 2.0], rtol=1e-12)
    report("functions host fn gives a host float", r.raw("hostfn").split()[0] == repr(1.5 * 1.5 + 1 + 1.0 + 3),
           r.raw("hostfn"))
r = Run("functions_default")
if r.ok():
    check_vals(r, "const", [256, "spec-run", 3, 512])
    check_vals(r, "linear", [[2, 256], 14.0])

# ---- models.sn: initializers, defaults, parameter names ----

r = Run("models")
if r.ok():
    check_vals(r, "mlp_shapes", [[784, 256], [10]])
    check_vals(r, "mlp_call", [[2, 10]])
    check_vals(r, "mlp_default_std", [1 / math.sqrt(784)], rtol=0.03)
    check_vals(r, "mlp_hidden", [[784, 16]])
    check_vals(r, "zeros", [0.0, 0.0])
    check_vals(r, "ones", [1.0, 1.0])
    check_vals(r, "constant", [0.25, 0.25])
    check_vals(r, "normal", [2.0, 0.5], rtol=0.03)
    check_vals(r, "normal0", [0.0, 0.1], rtol=0.03, atol=0.005)
    lo, hi, m = r.vals("uniform")
    report("models uniform(-3, 5)", -3 <= lo < -2.95 and 4.95 < hi <= 5 and abs(m - 1) < 0.1, f"{lo} {hi} {m}")
    a = math.sqrt(6 / (100 + 50))
    lo, hi, s = r.vals("xavier")
    report("models xavier_uniform", -a <= lo < -0.97 * a and 0.97 * a < hi <= a and abs(s - a / math.sqrt(3)) < 0.05 * a,
           f"{lo} {hi} {s}, bound {a}")
    m, s = r.vals("he")
    report("models he_normal", abs(m) < 0.01 and abs(s - math.sqrt(2 / 100)) < 0.05 * math.sqrt(2 / 100), f"{m} {s}")
    check_vals(r, "default", [[0.0, 0.0, 0.0]])
    check_vals(r, "fields", [6.0, 6.0, True])
    tr, ev = r.vals("dropout")
    report("models dropout in training only", 1.5 < tr < 2.5 and ev == 1.0, f"training {tr}, evaluation {ev}")
    want = {"stem.weight": [4, 6], "stem.bias": [6], "head.l1.weight": [784, 8], "head.l1.bias": [8],
            "head.l2.weight": [8, 10], "head.l2.bias": [10]}
    for i in range(3):
        want[f"blocks.{i}.weight"] = [6, 6]
        want[f"blocks.{i}.bias"] = [6]
    got = safetensors_header(os.path.join(OUT, "tower.safetensors"))
    report("models parameter names and shapes", got == want, f"got {got}")
    again, other = Run("models_again"), Run("models_seed4")
    if again.ok() and other.ok():
        report("models same seed, same initial values", again.text == r.text, "outputs differ")
        report("models other seed, other initial values", other.raw("normal") != r.raw("normal"),
               "normal() gave the same values under --seed 4")

# ---- gpt.sn ----

r = Run("gpt")
if r.ok():
    losses = [v[1] for v in r.all("loss")]
    report("gpt trains 40 steps", len(losses) == 40, f"{len(losses)} losses")
    if losses:
        report("gpt first loss near ln(256)", abs(losses[0] - math.log(256)) < 0.5, str(losses[0]))
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        report("gpt loss falls", last < 0.6 * first, f"{first} -> {last}")
    check_vals(r, "nparams_blocks", [2, [32, 96]])
    want = {"wte.weight": [256, 32], "wpe.weight": [16, 32], "ln_f.weight": [32], "ln_f.bias": [32]}
    for b in range(2):
        p = f"blocks.{b}."
        for ln in ("ln_1", "ln_2"):
            want[p + ln + ".weight"] = [32]
            want[p + ln + ".bias"] = [32]
        for lin, i, o in (("attn.qkv", 32, 96), ("attn.proj", 32, 32), ("mlp.fc", 32, 128), ("mlp.proj", 128, 32)):
            want[p + lin + ".weight"] = [i, o]
            want[p + lin + ".bias"] = [o]
    got = safetensors_header(os.path.join(OUT, "gpt.safetensors"))
    report("gpt parameter names (blocks.0 ... blocks.{L-1})", got == want,
           f"missing {sorted(set(want) - set(got))}, extra {sorted(set(got) - set(want))}")

# ---- train_block.sn ----

r = Run("train_block")
if r.ok():
    check_vals(r, "len", [10000, 10000])
    epochs = r.all("epoch")
    evals = r.all("eval")
    report("train_block two epochs", len(epochs) == 2 and len(evals) == 2, r.text[:200])
    if len(epochs) == 2 and len(evals) == 2:
        for e, ev in zip(epochs, evals):
            kv = dict(zip(e[1::2], e[2::2]))
            report(f"train_block epoch {e[0]} steps (drop_last)", kv["steps"] == 10000 // 128, str(kv))
            report(f"train_block epoch {e[0]} opt.t", kv["t"] == (e[0] + 1) * (10000 // 128), str(kv))
            kev = dict(zip(ev[1::2], ev[2::2]))
            report(f"train_block epoch {e[0]} drop_last = false serves every example",
                   kev["batches"] == 4 and kev["seen"] == 10000, str(kev))
        k0 = dict(zip(epochs[0][1::2], epochs[0][2::2]))
        report("train_block loss falls", k0["last"] < 0.5 * k0["first"], str(k0))
        acc = dict(zip(evals[1][1::2], evals[1][2::2]))["accuracy"]
        report("train_block test accuracy", acc > 0.75, str(acc))
        # the last rate set: cosine at step 155 of 2 * 10000 / 128 (PyTorch's
        # CosineAnnealingLR after a linear warm-up)
        total, peak, warm, step = 2 * 10000 / 128, 3e-3, 20, 155
        lr = 0.5 * peak * (1 + math.cos(math.pi * (step - warm) / (total - warm)))
        k1 = dict(zip(epochs[1][1::2], epochs[1][2::2]))
        report("train_block opt.lr = cosine(...)", close(k1["lr"], lr, rtol=1e-9), f"{k1['lr']} vs {lr}")
    try:
        recs = [json.loads(l) for l in open(os.path.join(OUT, "train_block.jsonl"))]
        report("train_block log(loss = loss) writes one record per step",
               [x["step"] for x in recs] == list(range(1, 157)) and all("loss" in x for x in recs),
               f"{len(recs)} records")
    except (OSError, ValueError, KeyError) as e:
        report("train_block run log", False, str(e))
ir = Run("train_block_ir")
if ir.ok():
    report("train_block second specialization for the last batch",
           "f32[3000,784]" in ir.text and "f32[1000,784]" in ir.text, "no region for 1000-example batches")

# ---- optimizers ----

r = Run("optimizers")
if r.ok():
    rows = {v[0]: v[1:] for v in r.all("opt")}
    for name in ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", "lion", "rmsprop", "rmsprop_momentum"):
        if name not in rows:
            report(f"optimizers {name}", False, "not printed")
            continue
        first, last, t = rows[name]
        report(f"optimizers {name} fits", last < 0.1 * first and t == 60, f"{first} -> {last}, t = {t}")
    trials = r.lines.get("trial", [])
    ws = [t.partition(" ")[2] for t in trials]
    report("optimizers a new optimizer of an old one's name starts fresh", len(ws) == 3 and len(set(ws)) == 1,
           "; ".join(trials))
a, b = Run("adamw_stdlib"), Run("adamw_verbatim")
if a.ok() and b.ok():
    report("adamw verbatim (LANGUAGE.md) equals the standard library's", a.text == b.text and a.text,
           "outputs differ")
    losses = [v[1] for v in a.all("loss")]
    report("adamw loss falls", len(losses) == 40 and losses[-1] < 0.5 * losses[0], str(losses[:1] + losses[-1:]))

# ---- schedules (PyTorch definitions) ----


def cosine(step, total, peak, warmup=0, min_lr=0):
    if step < warmup:
        return peak * (step + 1) / warmup
    if step < total:
        return min_lr + 0.5 * (peak - min_lr) * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))
    return min_lr


def one_cycle(step, total, peak, pct_start=0.3, div_factor=25, final_div=1e4):
    initial = peak / div_factor
    low = initial / final_div
    up_end, down_end = pct_start * total - 1, total - 1
    anneal = lambda a, b, pct: b + (a - b) / 2 * (1 + math.cos(math.pi * pct))
    if step <= up_end:
        return anneal(initial, peak, step / up_end)
    if step < down_end:
        return anneal(peak, low, (step - up_end) / (down_end - up_end))
    return low


def wsd(step, total, peak, warmup, decay_frac=0.2):
    start = total - decay_frac * total
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return 0.0
    if step >= start:
        return peak * (total - step) / (total - start)
    return peak


r = Run("schedules")
if r.ok():
    rows = r.all("sched")
    bad = []
    for row in rows:
        s = row[0]
        want = [s, cosine(s, 20, 0.1, 5, 0.01), 0.2 * (s + 1) / 4 if s < 4 else 0.2, 0.5 ** (s // 6),
                one_cycle(s, 20, 1.0), wsd(s, 20, 0.3, 3)]
        if not close(row, want, rtol=1e-9, atol=1e-12):
            bad.append(f"step {s}: got {row[1:]}, expected {want[1:]}")
    report("schedules cosine, linear_warmup, step_decay, one_cycle, wsd", len(rows) == 22 and not bad,
           "; ".join(bad[:2]) or f"{len(rows)} rows")
    steps = r.all("lrstep")
    bad = []
    for k, (step, t, lr, moved) in enumerate(steps):
        if t != k + 1 or not close(lr, cosine(k, 8, 0.5, 3), rtol=1e-12):
            bad.append(f"step {k}: t = {t}, lr = {lr}")
        if k and not close(moved, steps[k - 1][2], rtol=1e-5):
            bad.append(f"step {k - 1}: w moved by {moved}, lr was {steps[k - 1][2]}")
    report("schedules opt.lr set each step takes effect at once", len(steps) == 8 and not bad,
           "; ".join(bad[:2]) or f"{len(steps)} steps")

# ---- save/load, checkpoint/resume ----

r = Run("save_load")
if r.ok():
    check_vals(r, "before", [True, True])
    check_vals(r, "after", [0.0, 0.0, 0.0, 0.0], atol=0)
a, b = Run("checkpoint1"), Run("checkpoint2")
if a.ok() and b.ok():
    check_vals(a, "resumed_t", [20])
    la, lb = a.text[a.text.find("resumed_t"):], b.text[b.text.find("resumed_t"):]
    report("checkpoint resume in a new process continues identically", la == lb and la.count("loss") == 20,
           f"phase 1: {la[:120]!r} phase 2: {lb[:120]!r}")

# ---- buffers and training (buffers.sn) ----

r = Run("buffers")
if r.ok():
    check_vals(r, "training_host", [False])
    check_vals(r, "init", [[0.0] * 3, 0.0, -1.0])
    # SGD on (sum(x * w) - 1)^2 + sum(ema): ema gets no gradient and the
    # update of ema and steps reads the values from before the step
    x, w, ema, steps, lr = [1.0, 2.0, 3.0], [1.0] * 3, [0.0] * 3, 0.0, 0.01
    losses, states = [], []
    for _ in range(3):
        y = sum(a * b for a, b in zip(x, w))
        losses.append([(y - 1) ** 2 + sum(ema)])
        new_ema = [0.5 * e + 0.5 * p for e, p in zip(ema, w)]
        w = [p - lr * 2 * (y - 1) * a for p, a in zip(w, x)]
        ema, steps = new_ema, steps + 1
        states.append([w, ema, steps, 1.0])
    report("buffers losses (reads before the step, no gradient into a buffer)",
           all(close(g, e) for g, e in zip(r.all("loss"), losses)) and len(r.all("loss")) == 3,
           f"got {r.all('loss')}, expected {losses}")
    report("buffers assigned after each step, optimizer leaves them alone",
           all(close(g, e) for g, e in zip(r.all("state"), states)) and len(r.all("state")) == 3,
           f"got {r.all('state')}, expected {states}")
    check_vals(r, "eval", [sum(a * b for a, b in zip(x, w))])
    check_vals(r, "after_eval", [ema, steps, 0.0])
    check_vals(r, "bump", [steps, steps])
    check_vals(r, "after_bump", [steps + 10])
    check_vals(r, "after_twice", [steps + 110])
    final = [w, ema, steps + 110, 0.0]
    check_vals(r, "loaded", final)
    check_vals(r, "resumed", final[:3] + [3])
    check_vals(r, "outer", [2.0, 2.0])
    check_vals(r, "prev", [[1 - 2 * 0.5 * a for a in x], [1 - 0.5 * a for a in x]])
    head = safetensors_header(os.path.join(OUT, "buffers.ckpt"))
    report("buffers checkpoint: model.<buffer>, no optimizer state for buffers",
           {"model.ema", "model.steps", "model.mode", "opt.buf.w"} <= set(head) and
           not any(k.startswith("opt.") and not k.endswith(".w") for k in head), str(sorted(head)))
    head = safetensors_header(os.path.join(OUT, "outer.safetensors"))
    report("buffers saved under dotted names",
           {f"blocks.{i}.{n}" for i in range(2) for n in ("w", "ema", "steps", "mode")} == set(head), str(sorted(head)))
    # BatchNorm1d(2): batch statistics (biased variance) normalize in
    # training; running = 0.9 * running + 0.1 * batch (unbiased variance)
    xb = [[1.0, 2.0], [3.0, 6.0], [5.0, 4.0], [7.0, 0.0]]
    wb = [[1.0, 2.0], [0.5, -1.0], [0.0, 3.0], [2.0, 1.0]]
    n, eps = len(xb), 1e-5
    mu = [sum(row[c] for row in xb) / n for c in range(2)]
    var = [sum((row[c] - mu[c]) ** 2 for row in xb) / n for c in range(2)]
    check_vals(r, "bn_train", [sum((xb[i][c] - mu[c]) / math.sqrt(var[c] + eps) * wb[i][c]
                                   for i in range(n) for c in range(2))], rtol=1e-5, atol=1e-5)
    rm = [0.1 * m for m in mu]
    rv = [0.9 + 0.1 * v * n / (n - 1) for v in var]
    check_vals(r, "bn_running", [rm, rv])
    check_vals(r, "bn_eval", [[[(row[c] - rm[c]) / math.sqrt(rv[c] + eps) for c in range(2)] for row in xb]])

# ---- datasets ----

r = Run("datasets")
if r.ok():
    check_vals(r, "idx_len", [10000, 10000])
    batches = r.all("idx_batch")
    want = [[[n, 784], [n], True, True, True, 0, 9] for n in (4000, 4000, 2000)]
    report("datasets idx batches (drop_last = false), pixels in [0, 1]", batches == want, str(batches))
    check_vals(r, "idx_seen", [10000])
    report("datasets idx(flatten = false) is [N, 1, H, W]",
           r.all("grid_batch") == [[[4000, 1, 28, 28], [4000]]] * 2, str(r.all("grid_batch")))
    n = os.path.getsize(os.path.join(SPEC, "data", "tiny.txt")) - 16
    check_vals(r, "text_len", [n])
    tb = r.all("text_batch")
    report("datasets text: x, y i32[B, T], y is x shifted by one",
           len(tb) == n // 200 and all(t == [[200, 16], [200, 16], 0, True, True] for t in tb), str(tb[:2]))
    toks = [(i * 7) % 1000 for i in range(300)]
    check_vals(r, "tokens_len", [300 - 8])
    kb = r.all("tokens_batch")
    want = [[[50, 8], [50, 8], 0, max(toks[50 * k:50 * k + 57]), toks[50 * k:50 * k + 3]] for k in range(292 // 50)]
    report("datasets tokens: header, uint16 tokens, y shifted", kb == want, f"got {kb[:2]}, expected {want[:2]}")

# ---- control_flow.sn: while, break, continue, lists that grow ----

def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def control_flow_expected():
    """The program's host computations, statement for statement in Python."""
    i, seen = 0, []
    while True:
        i += 1
        if i % 3 == 0:
            continue
        if i > 10:
            break
        seen.append(i)
    odd = []
    for k in range(20):
        if k % 2 == 0:
            continue
        if k > 11:
            break
        odd.append(k)
    words = []
    for w in ["a", "bb", "stop", "c"]:
        if w == "stop":
            break
        words = words + [w]
    pairs = []
    for a in range(4):
        for b in range(4):
            if b > a:
                break
            if (a + b) % 2 == 1:
                continue
            pairs.append([a, b])
        pairs.append(a)
    square = next(i for i in range(0, 100, 2) if i * i > 50)
    xs = [1, 2] + [3]
    ys = list(xs)
    xs.append(4)
    ys = ys + [5.5]
    curve = [0.9, 0.7, 0.75, 0.72, 0.71, 0.8, 0.6]
    best, bad, stopped = 1e9, 0, -1
    for epoch, v in enumerate(curve):
        if v < best:
            best, bad = v, 0
        else:
            bad += 1
        if bad >= 3:
            stopped = epoch
            break
    return {
        "while": [i, seen], "range": [odd], "list": [words, len(words)], "nested": [pairs],
        "hostfn": [collatz_steps(27), collatz_steps(97), square],
        "traced": [[8.0, 8.0], 1.5 * 2 ** 4],
        "lists": [xs, ys, [], 1, [[]], [[1], [2, 3]]],
        "early": [stopped, best, bad],
    }


a, b = Run("control_flow"), Run("control_flow_nobreak")
if a.ok():
    for key, want in control_flow_expected().items():
        check_text(a, key, want)
    steps = 13
    check_vals(a, "steps", [steps, -(-steps // 10)])
    labels = gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").read()[8:]
    want = []
    for k in range(4):
        want += [sum(labels[2500 * k:2500 * (k + 1)]), 2500]
    check_vals(a, "grown", [want])
    with open(os.path.join(OUT, "control_flow.jsonl")) as f:
        logged = [json.loads(line)["step"] for line in f]
    report("control_flow stop after N steps logs steps 1..N", logged == list(range(1, steps + 1)), str(logged))
if a.ok() and b.ok():
    n, first, after, kept = a.vals("batches")
    n2, first2, after2, kept2 = b.vals("batches")
    report("control_flow break ends a batches loop early", n == 2 and len(first) == 2 and n2 == 20 and len(first2) == 20,
           f"{n} and {n2} batches")
    report("control_flow the batches before a break are those of the full loop", first == first2[:2], f"{first} {first2[:2]}")
    report("control_flow the next batches loop sees the same batches after a break", after == after2, f"{after} {after2}")
    report("control_flow continue skips the rest of a batches iteration; appended batches outlive it",
           after[1] == -1 and kept == [after[0], after[2]], f"{after} {kept}")

# ---- csv and tensors data sets ----

def read_csv(name, header=True):
    """Rows of cells as csv() reads them: blank lines skipped, cells trimmed
    of spaces and one pair of double quotes."""
    rows = []
    with open(os.path.join(SPEC, "data", name), newline="") as f:
        for line in f.read().split("\n"):
            line = line.rstrip("\r")
            if line.strip(" \t"):
                rows.append([c.strip(" \t").removeprefix('"').removesuffix('"') for c in line.split(",")])
    return (rows[0], rows[1:]) if header else (None, rows)


def columns(rows, target):
    """Features (every other column, floats) and the target column: ints when
    every target cell is written as an integer, else floats."""
    ys = [r[target] for r in rows]
    integer = all(y.lstrip("+-").isdigit() for y in ys)
    xs = [[float(c) for k, c in enumerate(r) if k != target] for r in rows]
    return xs, [int(y) if integer else float(y) for y in ys]


def all_ints(v):
    return all(isinstance(e, int) and not isinstance(e, bool) for e in v)


def all_floats(v):
    return all(isinstance(e, float) for e in v)


r, again = Run("dataset_csv"), Run("dataset_csv_again")
if r.ok() and again.ok():
    names, rows = read_csv("classes.csv")
    xs, ys = columns(rows, names.index("label"))
    check_vals(r, "csv_len", [len(rows)])
    want = [[xs[k:k + 4], ys[k:k + 4]] for k in range(0, len(rows), 4)]
    got = r.all("csv_batch")
    report("dataset_csv header, CRLF, quoted names, blank line: batches in file order, y i32",
           close(got, want, 1e-6, 0) and all(all_ints(b[1]) for b in got), f"got {got[:1]}, expected {want[:1]}")
    k = int(0.6 * len(rows))
    check_vals(r, "csv_split", [k, len(rows) - k])
    check_vals(r, "csv_held_out", [xs[k:k + 4], ys[k:k + 4]], 1e-6, 0)
    sh = r.all("csv_shuffled")
    pairs = sorted((tuple(x), y) for b in sh for x, y in zip(b[0], b[1]))
    report("dataset_csv shuffled: every example once, x with its own y",
           close([list(p[0]) for p in pairs], [list(p[0]) for p in sorted((tuple(x), y) for x, y in zip(xs, ys))], 1e-6, 0)
           and [p[1] for p in pairs] == [p[1] for p in sorted((tuple(x), y) for x, y in zip(xs, ys))], str(sh[:1]))
    report("dataset_csv shuffled: not the file order", [y for b in sh for y in b[1]] != ys, str(sh))
    report("dataset_csv shuffled: the same order in a second run (same seed)",
           r.lines.get("csv_shuffled") == again.lines.get("csv_shuffled"), "orders differ")
    px, py = columns(rows, names.index("petal"))
    got = r.vals("csv_petal")
    report("dataset_csv target by name in the middle: f32 y, the other columns in order",
           close(got, [px, py], 1e-6, 0) and all_floats(got[1]), f"got {got}")
    _, rrows = read_csv("regress.csv", header=False)
    rx, ry = columns(rrows, len(rrows[0]) - 1)
    got = r.vals("csv_regress")
    report("dataset_csv no header, target -1: f32 y (one cell written as an integer)",
           close(got, [rx, ry], 1e-6, 0) and all_floats(got[1]), f"got {got}")
    ix, iy = columns(rrows, 1)
    got = r.vals("csv_int_target")
    report("dataset_csv no header, target 1: integer cells give i32 y",
           close(got, [ix, iy], 1e-6, 0) and all_ints(got[1]), f"got {got}")
    first, last = r.vals("csv_train")
    report("dataset_csv a classifier trained on it: the epoch loss falls below a third",
           first > 0.9 and last < first / 3, f"{first} -> {last}")

r, again = Run("dataset_tensors"), Run("dataset_tensors_again")
if r.ok() and again.ok():
    xs = [[2.0 * i, 2.0 * i + 1] for i in range(12)]
    ys = [10 * i for i in range(12)]
    check_vals(r, "t_len", [12])
    want = [[xs[k:k + 5], ys[k:k + 5]] for k in range(0, 12, 5)]
    got = r.all("t_batch")
    report("dataset_tensors batches in order, x f32 and y i32 as given",
           close(got, want, 0, 0) and all(all_ints(b[1]) and all_floats(b[0][0]) for b in got), str(got))
    sh = r.all("t_shuffled")
    seen = [y for b in sh for y in b[1]]
    report("dataset_tensors shuffled: each example once, rows keep their y",
           sorted(seen) == ys and all(x == xs[y // 10] for b in sh for x, y in zip(b[0], b[1])), str(sh))
    report("dataset_tensors shuffled: not in order", seen != ys, str(seen))
    report("dataset_tensors shuffled: the same order in a second run with the same --seed",
           r.lines.get("t_shuffled") == again.lines.get("t_shuffled"), "orders differ")
    other = r.vals("t_shuffled_other")[0]
    report("dataset_tensors another seed, another order", sorted(other) == ys and other[:4] != seen[:4], str(other))
    check_vals(r, "t_split", [9, 3])
    check_vals(r, "t_held_out", [xs[9:], ys[9:]])
    check_vals(r, "t_x_only", [[6, 2], xs[1]], i=0)
    check_vals(r, "t_x_only", [[6, 2], xs[7]], i=1)
    got = r.all("t_rank3")
    want = [[[2, 2, 2, 3], [2, 2], [12 * i + 9, 12 * i + 10, 12 * i + 11], [2.0 * i, 2.0 * i + 1]] for i in (1, 3)]
    report("dataset_tensors rank-3 x and a vector y", got == want, f"got {got}, expected {want}")
    ew, eb = r.vals("t_fit")
    report("dataset_tensors a regression on the program's own data recovers w and b", ew < 1e-3 and eb < 1e-3, f"{ew} {eb}")

# ---- documents.sn: documents, packed_batches, pack_stats ----


def packed_batches(docs, rows, strategy, B, T):
    """The [strategy, x, y, segment, position] of each batch of packed rows."""
    nb = (len(rows) + B - 1) // B
    rows = rows + [[]] * (nb * B - len(rows))
    want = []
    for k in range(nb):
        x, y, seg, pos = ([[fill] * T for _ in range(B)] for fill in (0, -1, -1, 0))
        for b, row in enumerate(rows[k * B:(k + 1) * B]):
            t = 0
            for j, (d, off, n) in enumerate(row):
                doc = docs[d]
                for q in range(n):
                    x[b][t], seg[b][t], pos[b][t] = doc[off + q], j, q
                    y[b][t] = doc[off + q + 1] if off + q + 1 < len(doc) else -1
                    t += 1
        want.append([strategy, x, y, seg, pos])
    return want


r = Run("documents")
if r.ok():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from packed_docs import pack, split_docs, splits  # noqa: E402
    with open(os.path.join(SPEC, "data", "docs.txt"), "rb") as f:
        raw = f.read()
    docs = split_docs(raw)
    T, B = 8, 3
    check_vals(r, "docs_len", [len(docs)])
    for i, strategy in enumerate(["greedy", "best_fit", "padded"]):
        rows = pack(docs, T, strategy)
        tokens = sum(p[2] for row in rows for p in row)
        check_vals(r, "docs_stats", [strategy, [len(rows), tokens / (len(rows) * T), splits(rows)]], i=i)
        nb = (len(rows) + B - 1) // B
        want = packed_batches(docs, rows, strategy, B, T)
        got = [v for v in r.all("docs_rows") if v[0] == strategy]
        report(f"documents {strategy}: every batch's x, y, segment, position", got == want,
               f"{len(got)} batches, {len(want)} expected; first: {got[:1]} against {want[:1]}")
        shapes = [v for v in r.all("docs_batch") if v[0] == strategy]
        report(f"documents {strategy}: batches are i32[B, T] x 4, every row used",
               shapes == [[strategy] + [[B, T]] * 4] * nb, str(shapes))
        real = [v for v in r.all("docs_real") if v[0] == strategy]
        report(f"documents {strategy}: real positions and targets per batch",
               real == [[strategy, sum(1 for v in w[3] for s in v if s >= 0), sum(1 for v in w[2] for s in v if s >= 0)]
                        for w in want], str(real))
    report("documents best_fit cuts fewer documents than greedy",
           splits(pack(docs, T, "best_fit")) < splits(pack(docs, T, "greedy")), "")
    check_vals(r, "docs_split", [len(docs) // 2, len(docs) - len(docs) // 2])
    pieces = sorted(bytes(doc[off:off + n]) for row in pack(docs, T, "best_fit") for d, off, n in row for doc in [docs[d]])
    # no byte of docs.txt is 0, the x of padding
    orders = [[bytes(v for v in row if v) for e, x in r.all("docs_shuffled") if e == epoch for row in x]
              for epoch in range(2)]
    report("documents shuffled best_fit: each pass holds every byte of every piece",
           all(sorted(b"".join(o)) == sorted(b"".join(pieces)) for o in orders), str(orders))
    report("documents shuffled best_fit: two passes in different orders", orders[0] != orders[1], str(orders))
    rows = pack([raw], 16, "greedy")
    check_vals(r, "docs_whole", [1, [len(rows), sum(p[2] for row in rows for p in row) / (len(rows) * 16), 1]])
    report("documents warns once when the separator never occurs",
           r.err.count("warning: the separator \"@@\" never occurs in 'data/docs.txt'") == 1, r.err)

# ---- token_documents.sn: tokens(path, eot =) ----

r = Run("token_documents")
if r.ok():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from packed_docs import pack, splits  # noqa: E402
    with open(os.path.join(SPEC, "data", "docs-tokens.bin"), "rb") as f:
        raw = f.read()
    n = struct.unpack_from("<3i", raw)[2]
    toks = list(struct.unpack_from("<%dH" % n, raw, 1024))
    docs, cur = [], []
    for t in toks:  # each document ends with its eot, 999
        cur.append(t)
        if t == 999:
            docs.append(cur)
            cur = []
    docs = [d for d in docs + [cur] if len(d) >= 2]
    T, B = 8, 3
    check_vals(r, "tdocs_len", [len(docs)])
    for i, strategy in enumerate(["greedy", "best_fit"]):
        rows = pack(docs, T, strategy)
        tokens = sum(p[2] for row in rows for p in row)
        check_vals(r, "tdocs_stats", [strategy, [len(rows), tokens / (len(rows) * T), splits(rows)]], i=i)
        got = [v for v in r.all("tdocs_rows") if v[0] == strategy]
        want = packed_batches(docs, rows, strategy, B, T)
        report(f"token documents {strategy}: every batch's x, y, segment, position, each document ending with eot",
               got == want, f"{got[:1]} against {want[:1]}")
    check_vals(r, "tdocs_split", [len(docs) // 2, len(docs) - len(docs) // 2])
    rows = pack([toks], 16, "greedy")
    check_vals(r, "tdocs_whole", [1, [len(rows), sum(p[2] for row in rows for p in row) / (len(rows) * 16), 1]])
    report("token documents warn once when eot never occurs",
           r.err.count("warning: the end-of-text token 1 never occurs in 'data/docs-tokens.bin'") == 1, r.err)

# ---- host_values.sn ----

for name in ("host_values", "host_values_interp"):
    r = Run(name)
    if not r.ok():
        continue
    p = [1.0, 2.0, 3.0]

    def mul(v, k):
        return [x * k for x in v]

    def add(v, k):
        return [x + k for x in v]

    check_vals(r, "two_a", [mul(p, 2)])
    check_vals(r, "two_b", [mul(p, 3)])
    check_vals(r, "three_a", [add(p, 1)])
    check_vals(r, "three_b", [add(p, 2)])
    check_vals(r, "three_c", [add(p, 3)])
    check_vals(r, "three_sum", [[3 * x + 6 for x in p]])
    for i in range(3):
        check_vals(r, "loop", [i, mul(p, 2 ** (i + 1))], i=i)
    check_vals(r, "loop_out", [mul(p, 8)])
    check_vals(r, "list_item", [mul(p, 10)], i=0)
    check_vals(r, "list_item", [mul(p, 20)], i=1)
    check_vals(r, "operand", [add(mul(p, 2), sum(p))])
    check_vals(r, "list_str", [[mul(p, 2), p]])
    check_vals(r, "mixed_s", [sum(p)])
    check_vals(r, "mixed_t", [add(p, -1), add(p, -1), sum(p) + 1])
    check_vals(r, "logged", [sum(p) / 3, max(p)])
    # Cache: w = ones; each call sets last = x * w + 1 and counts itself
    w = [1.0] * 3
    check_vals(r, "in_method", [p], i=0)
    check_vals(r, "method_out", [mul(p, 2)])
    check_vals(r, "member", [add(p, 1), 1])
    check_vals(r, "in_method", [mul(p, 2)], i=1)
    check_vals(r, "member2", [add(mul(p, 2), 1), 2, add(p, 1)])
    # two sgd steps (lr 0.5) on sum(2 * p * w): the member holds the value
    # the last step computed with the weights from before it
    sums = [sum(p), 2 * sum(p)]
    for _ in range(2):
        last = [x * wi + 1 for x, wi in zip(p, w)]
        sums.append(sum(x * wi for x, wi in zip(p, w)))
        w = [wi - 0.5 * 2 * x for x, wi in zip(p, w)]
    check_vals(r, "member3", [last, 4, w])
    check_vals(r, "sums", [sums])
    gen = r.all("gen_h")
    report(f"{name} generate: the model's print ran once per token, at the window's shape",
           gen == [[[1, 4, 8]], [[1, 4, 8]]], str(gen))
    got = r.all("generated")
    report(f"{name} generate: the prompt and two tokens", len(got) == 1 and len(got[0][0]) == 4 and
           got[0][0][:2] == [1, 2] and all(isinstance(t, int) and 0 <= t < 256 for t in got[0][0]), str(got))
    report(f"{name} prints no method line while training", len(r.lines.get("in_method", [])) == 2,
           str(r.lines.get("in_method")))
try:
    with open(os.path.join(OUT, "host_values.jsonl")) as f:
        recs = [json.loads(line) for line in f]
    report("host_values log of traced values", len(recs) == 1 and close([recs[0]["m"], recs[0]["mx"]], [2.0, 3.0]),
           str(recs))
except (OSError, ValueError, KeyError) as e:
    report("host_values log of traced values", False, str(e))

sys.exit(report.status())
