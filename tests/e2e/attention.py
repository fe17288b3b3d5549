"""attention.py — compares two runs of tests/e2e/attention.sn (their saved
output y and gradients of q, k, v): `attention.py NAME DIR_A DIR_B TOL`
prints one PASS/FAIL line per tensor, within TOL of the largest magnitude
of B's tensor or of 1, whichever is larger (TOL 0: the same bits)."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402


def main():
    name, da, db, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    report = Checks(f"attention {name} ")
    for f, keys in (("y", ["y"]), ("grad", ["q", "k", "v"])):
        a = read_safetensors(os.path.join(da, f + ".safetensors"))
        b = read_safetensors(os.path.join(db, f + ".safetensors"))
        for k in keys:
            x, y = np.asarray(a[k], dtype=np.float64), np.asarray(b[k], dtype=np.float64)
            if x.shape != y.shape:
                report(k, False, f"shapes {x.shape} and {y.shape}")
                continue
            worst = float(np.abs(x - y).max()) if x.size else 0.0
            # at least 1: a gradient that is 0 exactly (T = 1) is compared absolutely
            scale = max(float(np.abs(y).max()) if y.size else 0.0, 1.0)
            finite = bool(np.isfinite(x).all() and np.isfinite(y).all())
            ok = finite and (worst == 0 if tol == 0 else worst <= tol * scale)
            report(k if f == "y" else "d" + k, ok, f"worst difference {worst:.3g} of largest {scale:.3g}")
    sys.exit(report.status())


main()
