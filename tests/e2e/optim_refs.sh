#!/usr/bin/env bash
# Every optimizer of stdlib/optim.sn, with its defaults and with options,
# against references (optim_refs.py): torch.optim's SGD, Adam, AdamW,
# RMSprop and RAdam, and NumPy versions of the papers' algorithms for Lion,
# Adafactor, CAME, LAMB and AdaBelief; 20 steps of a small MLP from the
# same weights, every loss and the final weights within 1e-5 relative.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
need "$PY cannot import torch (python3-torch; make test-deps installs it)" "$PY" -c "import torch, numpy"
if ! "$root/sinter" run "$root/tests/e2e/optim_refs.sn" -D OUT="$tmp" >"$tmp/out" 2>"$tmp/err"; then
	fail "optim_refs: sinter failed: $(head -3 "$tmp/err")"
	exit 1
fi
"$PY" "$root/tests/e2e/optim_refs.py" "$tmp" "$tmp/out"
