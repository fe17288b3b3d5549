#!/usr/bin/env bash
# tests/e2e/torch_norm.sh — BatchNorm2d, GroupNorm and BatchNorm1d against
# PyTorch: the network of torch_norm.sn trained ten AdamW steps by sinter
# (native code, then the reference interpreter) and by torch.nn's layers
# from the same initial weights and batches (torch_norm.py): losses within
# 1e-4 relative, the running means and variances within 1e-5 after the
# steps, the evaluation-mode outputs within 1e-4.  Debian's /usr/bin/python3
# with python3-torch; where it cannot import torch the test fails.
set -u
. "$(dirname "$0")/../lib/common.sh"
need "$PY cannot import torch (python3-torch is not installed; make test-deps installs it)" "$PY" -c "import torch"
scratch
replay torch_norm
