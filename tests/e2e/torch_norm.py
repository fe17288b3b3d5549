"""torch_norm.py — the network of tests/e2e/torch_norm.sn, written again with
torch.nn's own layers (BatchNorm2d, GroupNorm, BatchNorm1d, Linear) and
torch.optim.AdamW.

Starts from the weights and buffers sinter saved (init.safetensors), reads
the batches from data.safetensors, trains the same ten steps in train mode
and compares: every loss (within 1e-4 relative), the running means and
variances of both batch norms after the steps (within 1e-5, relative to
max(1, |value|)), then, in eval mode, the outputs on the evaluation batch
(within 1e-4 relative).  It also checks that sinter saved the buffers
under PyTorch's state-dict names, with their initial values.

Usage: torch_norm.py DIR SINTER_OUTPUT LABEL
  DIR holds data.safetensors, init.safetensors and final.safetensors;
  SINTER_OUTPUT is what `sinter run torch_norm.sn` printed.
Prints "PASS name" / "FAIL name: reason" lines.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import load_into, read_safetensors  # noqa: E402

# Must match tests/e2e/torch_norm.sn.
STEPS, LR = 10, 1e-2
BUFFERS = ["bn.running_mean", "bn.running_var", "bn1.running_mean", "bn1.running_var"]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bn = torch.nn.BatchNorm2d(3)
        self.mix = torch.nn.Linear(3, 6)
        self.gn = torch.nn.GroupNorm(2, 6)
        self.head = torch.nn.Linear(6 * 4 * 5, 8, bias=False)
        self.bn1 = torch.nn.BatchNorm1d(8, momentum=0.2)
        self.out = torch.nn.Linear(8, 4)

    def forward(self, x):
        h = self.mix(self.bn(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        h = F.relu(self.gn(h))
        h = F.relu(self.bn1(self.head(h.reshape(h.shape[0], -1))))
        return self.out(h)


def printed(path):
    losses, evals = [], None
    with open(path) as f:
        for line in f:
            if line.startswith("loss "):
                losses.append(float(line.split()[2]))
            elif line.startswith("eval "):
                evals = np.array(json.loads(line[5:]), dtype=np.float64)
    return losses, evals


def rel(a, b, floor=0.0):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)) /
                        np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)))


def main():
    d, out, label = sys.argv[1], sys.argv[2], sys.argv[3]
    report = Checks(f"torch_norm {label} ")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = read_safetensors(os.path.join(d, "data.safetensors"))
    init = read_safetensors(os.path.join(d, "init.safetensors"))
    final = read_safetensors(os.path.join(d, "final.safetensors"))
    initial_ok = all(name in init for name in BUFFERS) and all(
        np.all(init[n] == (0 if n.endswith("mean") else 1)) for n in BUFFERS if n in init)
    report("buffers saved", initial_ok,
           f"init.safetensors lacks running buffers or they are not zeros/ones: {sorted(init)}")
    net = Net()
    missing = load_into(net, init)
    report("state dict names", not missing, f"PyTorch's names missing from sinter's file: {missing}")
    opt = torch.optim.AdamW(net.parameters(), lr=LR)
    net.train()
    ref = []
    for s in range(STEPS):
        x = torch.from_numpy(data["x"][s])
        y = torch.from_numpy(data["y"][s])
        loss = F.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref.append(loss.item())
    losses, evals = printed(out)
    if len(losses) != STEPS:
        report("losses", False, f"sinter printed {len(losses)} losses, expected {STEPS}")
    else:
        worst = rel(losses, ref)
        report("losses", worst <= 1e-4, f"worst relative difference {worst:.3g}: sinter {losses}, torch {ref}")
        print(f"torch_norm {label} losses: first {ref[0]:.6f} last {ref[-1]:.6f}, worst relative difference {worst:.2g}")
    state = net.state_dict()
    worst, where = 0.0, ""
    for name in BUFFERS:
        if name not in final:
            report("running buffers", False, f"final.safetensors has no {name}")
            break
        e = rel(final[name], state[name].numpy(), floor=1.0)
        if e >= worst:
            worst, where = e, name
    else:
        report("running buffers", worst <= 1e-5, f"{where} differs by {worst:.3g}")
        print(f"torch_norm {label} running buffers: worst difference {worst:.2g} ({where})")
        # the buffers moved: a layer that never updated them fails above,
        # unless the data were too tame to tell
        moved = min(float(np.max(np.abs(state[n].numpy() - (0 if n.endswith("mean") else 1)))) for n in BUFFERS)
        report("running buffers moved", moved > 0.05, f"a running buffer moved only {moved:.3g}")
    net.eval()
    with torch.no_grad():
        ref_eval = net(torch.from_numpy(data["x_eval"])).numpy()
    if evals is None or evals.shape != ref_eval.shape:
        report("eval outputs", False, f"sinter printed no eval outputs of shape {ref_eval.shape}")
    else:
        worst = rel(evals, ref_eval, floor=1e-2)
        report("eval outputs", worst <= 1e-4, f"worst relative difference {worst:.3g}")
        print(f"torch_norm {label} eval outputs: worst relative difference {worst:.2g}")
    sys.exit(report.status())


main()
