#!/usr/bin/env bash
# tests/e2e/torch_gpt.sh — the tiny GPT of torch_gpt.sn trained by sinter
# (native code, then the reference interpreter) and by PyTorch from the same
# initial weights (torch_gpt.py): the ten losses and the final weights agree within 1e-6 relative.
# Debian's /usr/bin/python3 with python3-torch (make test-deps installs it);
# where it cannot import torch the test fails: a missing dependency is never
# a pass.
set -u
. "$(dirname "$0")/../lib/common.sh"
data=/usr/share/games/fortunes
need "$PY cannot import torch (python3-torch is not installed; make test-deps installs it)" "$PY" -c "import torch"
scratch
dir=$tmp
status=0
# name, then sinter's flags: native code and the interpreter, and GPT-2's
# initialization (std 0.02, projections 0.02 / sqrt(2L) = 0.01 for L = 2)
runs=("jit" "interp --interp" "jit-gpt2-init -D STD=0.02 -D PROJ_STD=0.01")
stds=("" "" "0.02 0.01")
for i in "${!runs[@]}"; do
	read -r name flags <<<"${runs[$i]}"
	mkdir -p "$dir/$name"
	# shellcheck disable=SC2086 # flags are words
	if ! "$root/sinter" run "$root/tests/e2e/torch_gpt.sn" $flags -D OUT="$dir/$name" -D DATA="$data" \
		>"$dir/$name/out" 2>"$dir/$name/err"; then
		fail "torch_gpt $name: sinter failed: $(head -3 "$dir/$name/err")"
		status=1
		continue
	fi
	"$PY" "$root/tests/e2e/torch_gpt.py" "$dir/$name" "$dir/$name/out" "$data" "$name" ${stds[$i]} || status=1
done
exit $status
