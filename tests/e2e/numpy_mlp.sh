#!/usr/bin/env bash
# The MLP's first ten losses agree with a NumPy implementation (numpy_mlp.py)
# started from the weights sinter saved, and so do the final weights.  Debian's /usr/bin/python3 has numpy.
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! ./sinter run tests/e2e/numpy_mlp.sn -D OUT="$dir" >"$dir/out" 2>"$dir/err"; then
	echo "FAIL numpy_mlp: sinter failed: $(head -3 "$dir/err")"
	exit 1
fi
/usr/bin/python3 tests/e2e/numpy_mlp.py "$dir/init.safetensors" "$dir/out" "$dir/final.safetensors"
