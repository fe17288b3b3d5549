#!/usr/bin/env bash
# conv2d and its gradients against PyTorch: tests/e2e/torch_conv.sn trains a
# stack of convolutions (every conv2d argument used) for five SGD steps and
# tests/e2e/torch_conv.py replays them with torch.nn.functional.conv2d from
# the weights sinter saved: losses and final weights, on the JIT and on the
# interpreter.  Debian's /usr/bin/python3 has torch (python3-torch).
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
need "$PY cannot import torch (python3-torch; make test-deps installs it)" "$PY" -c "import torch"
for mode in jit interp; do
	dir=$tmp/$mode
	mkdir -p "$dir"
	flags=()
	[ $mode = interp ] && flags=(--interp)
	if ! "$root/sinter" run "$root/tests/e2e/torch_conv.sn" "${flags[@]}" -D OUT="$dir" >"$dir/out" 2>"$dir/err"; then
		fail "torch_conv_$mode: sinter failed: $(head -3 "$dir/err")"
		continue
	fi
	"$PY" "$root/tests/e2e/torch_conv.py" "$dir/init.safetensors" "$dir/out" "$dir/final.safetensors" |
		sed "s/^\(PASS\|FAIL\) torch_conv /\1 torch_conv_$mode /"
done
