#!/usr/bin/env bash
# The MLP's first ten losses agree with a NumPy implementation (numpy_mlp.py)
# started from the weights sinter saved, and so do the final weights.  Debian's /usr/bin/python3 has numpy.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
dir=$tmp
need "$PY cannot import numpy (python3-numpy; make test-deps installs it)" "$PY" -c "import numpy"
if ! "$root/sinter" run "$root/tests/e2e/numpy_mlp.sn" -D OUT="$dir" >"$dir/out" 2>"$dir/err"; then
	fail "numpy_mlp: sinter failed: $(head -3 "$dir/err")"
	exit 1
fi
"$PY" "$root/tests/e2e/numpy_mlp.py" "$dir/init.safetensors" "$dir/out" "$dir/final.safetensors"
