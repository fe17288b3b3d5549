#!/usr/bin/env bash
# conv2d and its gradients against PyTorch: tests/e2e/torch_conv.sn trains a
# stack of convolutions (every conv2d argument used) for five SGD steps and
# tests/e2e/torch_conv.py replays them with torch.nn.functional.conv2d from
# the weights sinter saved: losses and final weights, on the JIT, on the
# interpreter and in a `sinter build` binary (which links the runtime's
# convolution kernels without LLVM).  Debian's /usr/bin/python3 has torch
# (python3-torch).
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
need "$PY cannot import torch (python3-torch; make test-deps installs it)" "$PY" -c "import torch"
src=$root/tests/e2e/torch_conv.sn
if ! "$root/sinter" build "$src" -o "$tmp/torch_conv_bin" >"$tmp/build.err" 2>&1; then
	fail "torch_conv_build: sinter build failed: $(head -3 "$tmp/build.err")"
fi
for mode in jit interp build; do
	dir=$tmp/$mode
	mkdir -p "$dir"
	cmd=("$root/sinter" run "$src")
	[ $mode = interp ] && cmd+=(--interp)
	[ $mode = build ] && cmd=("$tmp/torch_conv_bin")
	if ! "${cmd[@]}" -D OUT="$dir" >"$dir/out" 2>"$dir/err"; then
		fail "torch_conv_$mode: sinter failed: $(head -3 "$dir/err")"
		continue
	fi
	"$PY" "$root/tests/e2e/torch_conv.py" "$dir/init.safetensors" "$dir/out" "$dir/final.safetensors" |
		sed "s/^\(PASS\|FAIL\) torch_conv /\1 torch_conv_$mode /"
done
