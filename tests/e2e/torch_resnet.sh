#!/usr/bin/env bash
# tests/e2e/torch_resnet.sh — examples/resnet.sn (ResNet-8) against PyTorch;
# `torch_resnet.sh lenet` is tests/e2e/torch_lenet.sh (LeNet-5).
#
# sinter trains the example for ten AdamW steps on the first 640 training
# images in file order (-D SHUFFLE=false), saving its initial weights and
# buffers, a checkpoint after every step, and its trained weights, and
# printing the logits of 64 test images in evaluation mode;
# torch_convnet.py builds the same network from torch.nn's layers, loads
# those files and compares (its docstring says what and how closely).
# The ResNet runs on native code only (ten steps take minutes on the
# interpreter; tests/e2e/jit_diff.sh compares the two on two steps), LeNet
# on both.  Debian's /usr/bin/python3 with python3-torch; where it cannot
# import torch the test fails.
set -u
. "$(dirname "$0")/../lib/common.sh"
net=${1:-resnet}
need "$PY cannot import torch (python3-torch is not installed; make test-deps installs it)" "$PY" -c "import torch"
scratch
status=0
runs=("jit")
[ "$net" = lenet ] && runs+=("interp --interp")
for run in "${runs[@]}"; do
	read -r name flags <<<"$run"
	d=$tmp/$name
	mkdir -p "$d"
	# shellcheck disable=SC2086 # flags are words
	if ! "$root/sinter" run "$root/examples/$net.sn" $flags --threads 1 -D EPOCHS=1 -D STEPS=10 \
		-D SHUFFLE=false -D TEST=500 -D PRINT_EVAL=64 -D INIT="$d/init.safetensors" -D CKPT="$d/ckpt" \
		-D SAVE="$d/final.safetensors" --log "$d/log.jsonl" >"$d/out" 2>"$d/err"; then
		fail "torch_$net $name: sinter failed: $(head -3 "$d/err")"
		status=1
		continue
	fi
	"$PY" "$root/tests/e2e/torch_convnet.py" "$net" "$d" 10 "$name" || status=1
done
exit $status
