#!/usr/bin/env bash
# minimize's clip_norm against PyTorch: tests/e2e/torch_clip.sn trains the
# MLP ten steps with SGD and ten with AdamW, clipping at norm 1.0, and
# tests/e2e/torch_clip.py replays them with torch.nn.utils.clip_grad_norm_
# from the weights sinter saved: losses and pre-clip norms (opt.grad_norm)
# per step, final weights.  On the JIT and on the interpreter, whose outputs
# must also agree with each other.  Debian's /usr/bin/python3 has torch.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
need "$PY cannot import torch (python3-torch; make test-deps installs it)" "$PY" -c "import torch"
src=$root/tests/e2e/torch_clip.sn
for mode in jit interp; do
	dir=$tmp/$mode
	mkdir -p "$dir"
	cmd=("$root/sinter" run "$src" -D OUT="$dir" --log "$dir/run.jsonl")
	[ $mode = interp ] && cmd+=(--interp)
	if ! "${cmd[@]}" >"$dir/out" 2>"$dir/err"; then
		fail "torch_clip_$mode: sinter failed: $(head -3 "$dir/err")"
		continue
	fi
	# the run log carries the pre-clip norms the program printed
	check "torch_clip_${mode}_logged_norms" "$PY" -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
out = [l.split() for l in open(sys.argv[2]) if l.strip()]
for kind in ("sgd", "adamw"):
    logged = [r[kind + "_grad_norm"] for r in recs if kind + "_grad_norm" in r]
    printed = [float(f[2]) for f in out if f[0] == kind]
    assert len(logged) == len(printed) == 10, (kind, len(logged), len(printed))
    assert all(abs(a - b) <= 1e-6 * b for a, b in zip(logged, printed)), kind
' "$dir/run.jsonl" "$dir/out"
	"$PY" "$root/tests/e2e/torch_clip.py" "$dir" "$dir/out" | sed "s/^\(PASS\|FAIL\) torch_clip /\1 torch_clip_$mode /"
done
if d=$(numdiff "$tmp/jit/out" "$tmp/interp/out" --rtol 1e-6 --count 20 --names jit interp); then
	pass "torch_clip_jit_vs_interp: $d"
else
	fail "torch_clip_jit_vs_interp: $d"
fi
