"""Checks of tests/e2e/accumulate.sh: a run of tests/e2e/accumulate.sn with
accumulate = 4 and batches of 16 against one with batches of 64.

    accumulate_check.py BIG_DIR MICRO_DIR K   (each holds out, sgd.safetensors, adamw.safetensors)

For each optimizer: the micro run made K calls per step, opt.t advancing
on every K-th and opt.accumulated counting 1, ..., K - 1, 0; the mean of each
K micro-batch losses equals the big batch's loss, and the pre-clip norm
of each step the big batch's, within 1e-5 relative; the final weights
agree within 1e-5 of the largest value of their tensor."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402

STEPS = 20


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def main():
    global K
    big_dir, micro_dir, K = sys.argv[1], sys.argv[2], int(sys.argv[3])
    report = Checks(f"accumulate_k{K} ")
    big = [line.split() for line in open(os.path.join(big_dir, "out")) if line.strip()]
    micro = [line.split() for line in open(os.path.join(micro_dir, "out")) if line.strip()]
    for kind in ("sgd", "adamw"):
        b = [f for f in big if f[0] == kind]
        m = [f for f in micro if f[0] == kind]
        if not report(f"{kind}_calls", len(b) == STEPS and len(m) == K * STEPS,
                      f"{len(b)} big-batch steps and {len(m)} micro-batch calls, want {STEPS} and {K * STEPS}"):
            continue
        counts = [(int(f[1]), int(f[2])) for f in m]
        want = [((i + 1) // K, (i + 1) % K) for i in range(K * STEPS)]
        report(f"{kind}_step_count", counts == want,
               f"(opt.t, opt.accumulated) after each call: {counts[:8]}..., want {want[:8]}...")
        worst_loss = worst_norm = 0.0
        for s in range(STEPS):
            mean = sum(float(f[3]) for f in m[K * s:K * s + K]) / K
            worst_loss = max(worst_loss, rel(mean, float(b[s][3])))
            if kind == "adamw":
                worst_norm = max(worst_norm, rel(float(m[K * s + K - 1][4]), float(b[s][4])))
        report(f"{kind}_losses", worst_loss <= 1e-5, f"worst relative difference of a step's loss {worst_loss:.1e}")
        if kind == "adamw":
            report(f"{kind}_norms", worst_norm <= 1e-5, f"worst relative difference of a step's norm {worst_norm:.1e}")
        wb = read_safetensors(os.path.join(big_dir, kind + ".safetensors"))
        wm = read_safetensors(os.path.join(micro_dir, kind + ".safetensors"))
        worst = max(float(abs(wm[k] - wb[k]).max()) / float(abs(wb[k]).max()) for k in wb)
        report(f"{kind}_weights", wb.keys() == wm.keys() and worst <= 1e-5,
               f"worst difference {worst:.1e} of a tensor's largest value")
        print(f"# {kind}: losses {worst_loss:.1e}, norms {worst_norm:.1e}, weights {worst:.1e}")
    return report.status()


if __name__ == "__main__":
    sys.exit(main())
