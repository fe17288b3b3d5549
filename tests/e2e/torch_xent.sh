#!/usr/bin/env bash
# tests/e2e/torch_xent.sh — cross_entropy's label_smoothing and ignore_index
# against torch.nn.functional.cross_entropy: the losses and gradients of
# torch_xent.sn, from native code and from the reference interpreter,
# checked by torch_xent.py.  Debian's /usr/bin/python3 with python3-torch;
# where it cannot import torch the test fails.
set -u
. "$(dirname "$0")/../lib/common.sh"
need "$PY cannot import torch (python3-torch is not installed; make test-deps installs it)" "$PY" -c "import torch"
scratch
replay torch_xent
