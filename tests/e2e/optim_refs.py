"""optim_refs.py — replays tests/e2e/optim_refs.sn: the same MLP from the
same initial weights, 20 steps per optimizer, and compares every loss and
the final weights with sinter's within 1e-5 relative (a weight relative to
the largest weight of its tensor).

Losses and gradients come from PyTorch in float32, as sinter computes them.
SGD (momentum, dampening, Nesterov, weight decay), Adam, AdamW, RMSprop
and RAdam step with their torch.optim classes; Lion, Adafactor, CAME, LAMB
and AdaBelief with the NumPy functions below, written from the papers' algorithms (and,
for Adafactor and CAME, the reference implementations' defaults), in
float64, each parameter rounded to float32 after its step.

    optim_refs.py OUT_DIR SINTER_OUTPUT
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402

RTOL = 1e-5
STEPS = 20
NAMES = ["l1.weight", "l1.bias", "l2.weight", "l2.bias", "k"]

X = torch.tensor(((np.arange(48) % 7 - 3) / 4).reshape(8, 6), dtype=torch.float32)
Y = torch.tensor(((np.arange(24) % 5 - 2) / 4).reshape(8, 3), dtype=torch.float32)


def loss_fn(ps):
    h = torch.tanh(X @ ps[0] + ps[1])
    return ((h @ ps[2] + ps[3] + h @ ps[4][0] + (h * h) @ ps[4][1] - Y) ** 2).mean()


def rms(a):
    return math.sqrt(float(np.mean(a * a)))


def approx_sq(row, col):
    # (row / mean(row))^-1/2 outer col^-1/2 over the last two axes
    r = 1 / np.sqrt(row / row.mean(axis=-1, keepdims=True))
    return r[..., :, None] * (1 / np.sqrt(col))[..., None, :]


class Adafactor:
    """Shazeer & Stern 2018, as transformers' Adafactor with relative_step,
    scale_parameter (unless asked) and warmup_init off."""

    def __init__(self, lr, eps1=1e-30, eps2=1e-3, clip_threshold=1.0, decay_rate=-0.8, beta1=0.0,
                 weight_decay=0.0, scale_parameter=False, relative_step=False):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g, t):
        st = self.state.setdefault(i, {})
        beta2t = 1 - t ** self.decay_rate
        lr = min(1e-2, 1 / math.sqrt(t)) if self.relative_step else self.lr
        lr *= max(self.eps2, rms(p)) if self.scale_parameter else 1.0
        d = g * g + self.eps1
        if p.ndim >= 2:
            st["r"] = beta2t * st.get("r", 0) + (1 - beta2t) * d.mean(axis=-1)
            st["c"] = beta2t * st.get("c", 0) + (1 - beta2t) * d.mean(axis=-2)
            u = approx_sq(st["r"], st["c"]) * g
        else:
            st["v"] = beta2t * st.get("v", 0) + (1 - beta2t) * d
            u = g / np.sqrt(st["v"])
        u = u / max(rms(u) / self.clip_threshold, 1.0) * lr
        if self.beta1:
            st["m"] = self.beta1 * st.get("m", 0) + (1 - self.beta1) * u
            u = st["m"]
        return p - self.weight_decay * lr * p - u


class Came:
    """Luo et al. 2023, Algorithm 1 with the authors' came_pytorch details
    (clipping of the factored step, eps1 and eps2 inside the means)."""

    def __init__(self, lr, eps1=1e-30, eps2=1e-16, clip_threshold=1.0, beta1=0.9, beta2=0.999,
                 beta3=0.9999, weight_decay=0.0):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g, t):
        st = self.state.setdefault(i, {})
        d = g * g + self.eps1
        if p.ndim >= 2:
            st["r"] = self.beta2 * st.get("r", 0) + (1 - self.beta2) * d.mean(axis=-1)
            st["c"] = self.beta2 * st.get("c", 0) + (1 - self.beta2) * d.mean(axis=-2)
            u = approx_sq(st["r"], st["c"]) * g
        else:
            st["v"] = self.beta2 * st.get("v", 0) + (1 - self.beta2) * d
            u = g / np.sqrt(st["v"])
        u = u / max(rms(u) / self.clip_threshold, 1.0)
        m = st["m"] = self.beta1 * st.get("m", 0) + (1 - self.beta1) * u
        if p.ndim >= 2:
            res = (u - m) ** 2 + self.eps2
            st["rr"] = self.beta3 * st.get("rr", 0) + (1 - self.beta3) * res.mean(axis=-1)
            st["rc"] = self.beta3 * st.get("rc", 0) + (1 - self.beta3) * res.mean(axis=-2)
            step = approx_sq(st["rr"], st["rc"]) * m
        else:
            step = m
        return p - self.weight_decay * self.lr * p - self.lr * step


class Lamb:
    """You et al. 2019, Algorithm 2 (bias-corrected Adam step, decoupled
    decay, trust ratio ||p|| / ||step||, 1 when a norm is 0)."""

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g, t):
        st = self.state.setdefault(i, {})
        m = st["m"] = self.beta1 * st.get("m", 0) + (1 - self.beta1) * g
        v = st["v"] = self.beta2 * st.get("v", 0) + (1 - self.beta2) * g * g
        step = (m / (1 - self.beta1 ** t)) / (np.sqrt(v / (1 - self.beta2 ** t)) + self.eps) + self.weight_decay * p
        pn, sn = np.linalg.norm(p), np.linalg.norm(step)
        trust = pn / sn if pn > 0 and sn > 0 else 1.0
        return p - self.lr * trust * step


class AdaBelief:
    """Zhuang et al. 2020, Algorithm 2, with AdamW's decoupled decay."""

    def __init__(self, lr, beta1=0.9, beta2=0.999, eps=1e-16, weight_decay=0.0):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g, t):
        st = self.state.setdefault(i, {})
        m = st["m"] = self.beta1 * st.get("m", 0) + (1 - self.beta1) * g
        s = st["s"] = self.beta2 * st.get("s", 0) + (1 - self.beta2) * (g - m) ** 2 + self.eps
        mhat, shat = m / (1 - self.beta1 ** t), s / (1 - self.beta2 ** t)
        return p - self.lr * (mhat / (np.sqrt(shat) + self.eps) + self.weight_decay * p)


class Lion:
    """Chen et al. 2023, Program 1: the sign of an interpolation of the
    momentum and the gradient, decoupled weight decay, then the momentum."""

    def __init__(self, lr, beta1=0.9, beta2=0.99, weight_decay=0.0):
        self.__dict__.update(locals())
        self.state = {}

    def step(self, i, p, g, t):
        m = self.state.get(i, 0)
        c = self.beta1 * m + (1 - self.beta1) * g
        self.state[i] = self.beta2 * m + (1 - self.beta2) * g
        return p - self.lr * (np.sign(c) + self.weight_decay * p)


RUNS = {
    "sgd": lambda: (torch.optim.SGD, dict(lr=1e-1)),
    "sgd_momentum": lambda: (torch.optim.SGD, dict(lr=5e-2, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "sgd_nesterov": lambda: (torch.optim.SGD, dict(lr=5e-2, momentum=0.9, nesterov=True)),
    "adam": lambda: (torch.optim.Adam, dict(lr=1e-2)),
    "adam_options": lambda: (torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.1)),
    "adamw": lambda: (torch.optim.AdamW, dict(lr=1e-2)),
    "adamw_options": lambda: (torch.optim.AdamW, dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-4, weight_decay=0.1)),
    "rmsprop": lambda: (torch.optim.RMSprop, dict(lr=1e-2)),
    "rmsprop_options": lambda: (torch.optim.RMSprop, dict(lr=1e-2, alpha=0.9, eps=1e-4, momentum=0.5,
                                                          weight_decay=0.1)),
    "lion": lambda: Lion(1e-3),
    "lion_options": lambda: Lion(1e-3, beta1=0.8, beta2=0.95, weight_decay=0.1),
    "adafactor": lambda: Adafactor(1e-2),
    "adafactor_options": lambda: Adafactor(1e-2, beta1=0.9, weight_decay=0.1, scale_parameter=True,
                                           clip_threshold=0.5, eps1=1e-4, decay_rate=-0.5),
    "adafactor_relative": lambda: Adafactor(1e-3, relative_step=True),
    "came": lambda: Came(1e-2),
    "came_options": lambda: Came(1e-2, weight_decay=0.1, beta1=0.8, beta2=0.99, beta3=0.99, eps1=1e-4, eps2=1e-4,
                                 clip_threshold=0.5),
    "lamb": lambda: Lamb(1e-2),
    "lamb_options": lambda: Lamb(1e-2, beta1=0.8, beta2=0.99, eps=1e-3, weight_decay=0.1),
    "radam": lambda: (torch.optim.RAdam, dict(lr=1e-2)),
    "radam_options": lambda: (torch.optim.RAdam, dict(lr=1e-2, weight_decay=0.1, eps=1e-3, betas=(0.8, 0.99))),
    "adabelief": lambda: AdaBelief(1e-2),
    "adabelief_options": lambda: AdaBelief(1e-2, weight_decay=0.1, eps=1e-4, beta1=0.8, beta2=0.99),
}


def replay(init, opt):
    ps = [torch.tensor(init[n], requires_grad=True) for n in NAMES]
    torch_opt = opt[0](ps, **opt[1]) if isinstance(opt, tuple) else None
    losses = []
    for t in range(1, STEPS + 1):
        for p in ps:
            p.grad = None
        loss = loss_fn(ps)
        loss.backward()
        losses.append(loss.item())
        if torch_opt:
            torch_opt.step()
            continue
        with torch.no_grad():
            for i, p in enumerate(ps):
                new = opt.step(i, p.detach().numpy().astype(np.float64), p.grad.numpy().astype(np.float64), t)
                p.copy_(torch.tensor(new.astype(np.float32)))
    return losses, {n: p.detach().numpy() for n, p in zip(NAMES, ps)}


def main():
    out_dir, out_file = sys.argv[1], sys.argv[2]
    report = Checks("e2e optim_refs ")
    got = {}
    with open(out_file) as f:
        for line in f:
            w = line.split()
            if w and w[0] == "@":
                got.setdefault(w[1], []).append(float(w[3]))
    init = read_safetensors(os.path.join(out_dir, "init.safetensors"))
    for name, make in RUNS.items():
        losses, final = replay(init, make())
        mine = got.get(name, [])
        worst = max((abs(a - b) / abs(b) for a, b in zip(mine, losses)), default=math.inf)
        report(f"{name} losses", len(mine) == STEPS and worst <= RTOL,
               f"{len(mine)} of {STEPS} losses, worst relative difference {worst:.3g}")
        weights = read_safetensors(os.path.join(out_dir, name + ".safetensors"))
        wworst = max(float(np.max(np.abs(weights[n] - final[n])) / np.max(np.abs(final[n]))) for n in NAMES)
        moved = min(float(np.max(np.abs(final[n] - init[n]))) for n in NAMES)
        report(f"{name} final weights", wworst <= RTOL and moved > 1e-5,
               f"worst difference {wworst:.3g} of the largest weight; least largest move {moved:.3g}")
        print(f"  {name}: losses within {worst:.2g}, weights within {wworst:.2g}")
    sys.exit(report.status())


main()
