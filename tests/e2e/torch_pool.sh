#!/usr/bin/env bash
# tests/e2e/torch_pool.sh — max_pool2d, avg_pool2d and their gradients on
# hand-built inputs full of ties, pad, and the stdlib's MaxPool2d,
# AvgPool2d, global_avg_pool and flatten, by sinter (native code, the
# native code with every loop on the thread pool, and the reference
# interpreter) against PyTorch (torch_pool.py): the same forward values and
# gradients, the first maximum of a window taking a tie's gradient.
# Debian's /usr/bin/python3 with python3-torch; where it cannot import
# torch the test fails: a missing dependency is never a pass.
set -u
. "$(dirname "$0")/../lib/common.sh"
need "$PY cannot import torch (python3-torch is not installed; make test-deps installs it)" "$PY" -c "import torch"
scratch
if ! "$PY" "$root/tests/e2e/torch_pool.py" >"$tmp/torch" 2>"$tmp/torch.err"; then
	fail "torch_pool: torch_pool.py failed: $(head -3 "$tmp/torch.err")"
	exit 1
fi
runs=("jit" "jit-pool SINTER_PAR_MIN=1" "interp --interp")
status=0
for run in "${runs[@]}"; do
	read -r name arg <<<"$run"
	env=() flags=()
	case $arg in
	SINTER_*) env=("$arg") ;;
	--*) flags=("$arg") ;;
	esac
	if ! env "${env[@]}" "$root/sinter" run "$root/tests/e2e/torch_pool.sn" "${flags[@]}" >"$tmp/$name" 2>"$tmp/$name.err"; then
		fail "torch_pool $name: sinter failed: $(head -3 "$tmp/$name.err")"
		status=1
		continue
	fi
	# the gradients are sums of ramp values: exact in f32, as the maxima; the
	# means of 9 or 6 integers round alike on both sides up to an ulp
	if numdiff "$tmp/$name" "$tmp/torch" --count 20 --rtol 1e-6; then
		pass "torch_pool $name"
	else
		fail "torch_pool $name"
		status=1
	fi
done
exit $status
