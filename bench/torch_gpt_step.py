#!/usr/bin/python3
"""torch_gpt_step.py — the PyTorch side of the GPT step benchmark (bench/gpt_step.sh).

Trains the model of bench/gpt_step.sn (the GPT of examples/gpt_char.sn) in
PyTorch: token and position embeddings, L pre-norm blocks (LayerNorm,
causal self-attention with H heads and a -inf mask, LayerNorm, Linear(C, 4C),
tanh GELU, Linear(4C, C)), a final LayerNorm and an output head tied to the
token embedding; GPT-2's initialization (normal(0.02) weights,
0.02 / sqrt(2L) for the two projections into the residual stream, zero
biases, LayerNorm ones and zeros); cross-entropy and
torch.optim.AdamW(lr=1e-3, weight_decay=0.01), for --steps steps at
batch 8 on random windows of random tokens below --vocab (drawn with a
fixed seed; the data need not be sinter's, the shapes are the same).  It
writes a run log in sinter's format (one JSON line per step: {"step": N,
"time": seconds since start, "loss": ...}), so bench/gpt_report.py reads
both sides with the same code.

The layers are PyTorch's usual modules (nn.Linear, which stores its weight
[out, in] where sinter stores [in, out]; nn.LayerNorm; nn.Embedding): the
GEMMs have the same sizes, and this is how PyTorch code is written.

Threads, as bench/torch_mlp.py: --threads N sets torch's intra-op threads
(torch.set_num_threads) and the OpenBLAS threads (OPENBLAS_NUM_THREADS
before torch loads, and openblas_set_num_threads), because Debian's torch
runs float GEMMs through OpenBLAS, which torch.set_num_threads does not
reach; OMP_WAIT_POLICY=PASSIVE unless set.

Run with Debian's python (torch 1.13):
  /usr/bin/python3 bench/torch_gpt_step.py --vocab 65 --steps 20 --threads 2 --log /tmp/t.jsonl
"""
import argparse

from benchlib import thread_env, threads_line, train, use_threads

T, C, L, H, BATCH = 128, 256, 4, 4, 8  # as in bench/gpt_step.sn
LR, WEIGHT_DECAY = 1e-3, 0.01


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log", help="JSON-lines run log, sinter's format")
    return p.parse_args()


args = parse_args()
thread_env(args.threads)  # before torch loads (benchlib.py)

import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402



class Attention(nn.Module):
    """GPT-2 causal self-attention, no dropout."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        b, t, _ = x.shape
        d = C // H
        q, k, v = (z.view(b, t, H, d).transpose(1, 2) for z in self.qkv(x).split(C, dim=-1))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
        att = torch.softmax(att.masked_fill(~self.mask[:t, :t], float("-inf")), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, t, C))


class Block(nn.Module):
    """Pre-norm: x + attn(ln_1(x)), then + mlp(ln_2(.))."""

    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(C)
        self.attn = Attention()
        self.ln_2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.mlp_proj = nn.Linear(4 * C, C)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp_proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.wte = nn.Embedding(vocab, C)
        self.wpe = nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block() for _ in range(L))
        self.ln_f = nn.LayerNorm(C)
        self.register_buffer("pos", torch.arange(T))
        # GPT-2's initialization, as gpt_step.sn (Embedding: normal(0.02);
        # Block(std = 0.02, proj_std = 0.02 / sqrt(2L)); zero biases)
        with torch.no_grad():
            for emb in (self.wte, self.wpe):
                emb.weight.normal_(0.0, 0.02)
            for blk in self.blocks:
                for lin, std in ((blk.attn.qkv, 0.02), (blk.fc, 0.02),
                                 (blk.attn.proj, 0.02 / math.sqrt(2 * L)), (blk.mlp_proj, 0.02 / math.sqrt(2 * L))):
                    lin.weight.normal_(0.0, std)
                    lin.bias.zero_()

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(self.pos[:idx.shape[1]])
        for blk in self.blocks:
            x = blk(x)
        return F.linear(self.ln_f(x), self.wte.weight)  # tied head: x @ wte.weight.T


def main():
    t0 = time.monotonic()
    blas = use_threads(torch, args.threads)
    torch.manual_seed(args.seed)

    # random tokens, as many as gpt_step.sh writes for sinter: STEPS * BATCH
    # windows of T + 1 tokens, taken in a random order
    data = torch.randint(0, args.vocab, (args.steps * BATCH + T,), dtype=torch.int64)
    order = torch.randperm(args.steps * BATCH)
    offsets = torch.arange(T)

    net = Gpt(args.vocab)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def batch_loss(step):
        starts = order[(step - 1) * BATCH:step * BATCH]
        window = starts[:, None] + offsets
        x, y = data[window], data[window + 1]
        return F.cross_entropy(net(x).reshape(-1, args.vocab), y.reshape(-1))

    times, value = train(args.steps, opt, batch_loss, args.log, t0)

    per_step = [b - a for a, b in zip(times, times[1:])]
    params = sum(p.numel() for p in net.parameters())
    print(f"torch {torch.__version__} V={args.vocab}: {params} parameters, {args.steps} steps, "
          f"median {statistics.median(per_step or [times[0]]) * 1e3:.1f} ms/step, final loss {value:.4f}; "
          + threads_line(torch, blas))

main()
