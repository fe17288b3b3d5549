"""Replay of tests/e2e/torch_conv.sn in PyTorch: the same four convolutions
(torch.nn.functional.conv2d with the same stride, padding, dilation and
groups) from the weights sinter saved, five SGD steps on sum(y ** 2), in
float64 so that the reference itself does not round.  sinter's losses must
agree within 1e-5 relative, and every final tensor (the weights and the
input, whose gradient is the data gradient through the whole stack) within
1e-5 of the largest value of its tensor.

usage: torch_conv.py INIT.safetensors SINTER_OUTPUT FINAL.safetensors"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402


def load_safetensors(path):
    """The file's tensors as float64 torch tensors under their last name component."""
    return {name.split(".")[-1]: torch.from_numpy(a).double() for name, a in read_safetensors(path).items()}


def net(p):
    h = torch.tanh(F.conv2d(p["x"], p["w1"], stride=(2, 1), padding=1, groups=2))
    h = torch.tanh(F.conv2d(h, p["w2"], dilation=2, padding=(1, 2)))
    h = torch.tanh(F.conv2d(h, p["w3"], stride=2, padding=1, groups=5))
    return F.conv2d(h, p["w4"])


def layer_check(report, path, out, x):
    """The stdlib's Conv2d(4, 6, [3, 2], stride = 2, padding = [1, 0],
    groups = 2) against torch.nn.Conv2d with its saved weights, and its
    initialization within PyTorch's bound 1/sqrt(fan_in), fan_in = 12."""
    w = load_safetensors(path)
    bound = [float(v) for line in open(out) if line.startswith("bound ") for v in line.split()[1:]]
    report("layer_init_bound", len(bound) == 2 and 0.8 < bound[0] <= 1 + 1e-6 and 0 < bound[1] <= 1 + 1e-6,
           f"max |weight|, |bias| times sqrt(fan_in): {bound}")
    conv = torch.nn.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), groups=2).double()
    with torch.no_grad():
        conv.weight.copy_(w["weight"])
        conv.bias.copy_(w["bias"])
        y = conv(x)
    want = f"layer {list(y.shape)}"
    got = [line.split() for line in open(out) if line.startswith("layer ")]
    shape_ok = len(got) == 1 and " ".join(got[0][:-2]) == want
    report("layer_shape", shape_ok, f"sinter {got}, torch {want}")
    if shape_ok:
        for name, have, ref in (("sum", float(got[0][-2]), y.sum().item()), ("sum_sq", float(got[0][-1]), (y ** 2).sum().item())):
            report(f"layer_{name}", abs(have - ref) <= 1e-5 * max(abs(ref), 1), f"sinter {have}, torch {ref}")


def main():
    report = Checks("torch_conv ")
    p = {k: v.requires_grad_() for k, v in load_safetensors(sys.argv[1]).items()}
    losses = [float(line.split()[1]) for line in open(sys.argv[2]) if line.startswith("loss ")]
    shape = [line for line in open(sys.argv[2]) if line.startswith("shape ")]
    y = net(p)
    report("shape", shape == [f"shape {list(y.shape)}\n"], f"sinter {shape}, torch {list(y.shape)}")
    report("five_losses", len(losses) == 5, f"{len(losses)} loss lines")
    for step, got in enumerate(losses):
        loss = (net(p) ** 2).sum()
        loss.backward()
        want = loss.item()
        report(f"loss_{step}", abs(got - want) <= 1e-5 * abs(want), f"sinter {got}, torch {want}")
        with torch.no_grad():
            for t in p.values():
                t -= 0.01 * t.grad
                t.grad = None
    final = load_safetensors(sys.argv[3])
    layer_check(report, os.path.join(os.path.dirname(sys.argv[3]), "layer.safetensors"), sys.argv[2],
                load_safetensors(sys.argv[1])["x"])
    for k in sorted(p):
        d = (final[k] - p[k].detach()).abs().max().item()
        scale = p[k].detach().abs().max().item()
        report(f"final_{k}", d <= 1e-5 * scale, f"largest difference {d:.3g} against largest value {scale:.3g}")
    sys.exit(report.status())


main()
