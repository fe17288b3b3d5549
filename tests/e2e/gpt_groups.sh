#!/usr/bin/env bash
# tests/e2e/gpt_groups.sh — parameter groups in examples/gpt_char.sn: no
# weight decay on biases, norms and embeddings.  A small GPT (-D shapes,
# a 20000-byte text) takes one AdamW step at lr 1e-3 twice, with
# WEIGHT_DECAY 0.5 and 0, after a run of no step saves the initial
# weights; gpt_groups.py requires the no-decay parameters bit-identical in
# the two runs and every weight matrix decayed by exactly lr * wd * p0.
# WEIGHT_DECAY is the optimizer's; the no-decay group overrides it with 0,
# so those parameters differ if the override is lost, the matrices if the
# group does not follow the optimizer.
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=${SINTER:-$root/sinter}
scratch
"$PY" -c "
import random
random.seed(3)
words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'ran', 'off', 'quickly']
open('$tmp/text.txt', 'w').write(' '.join(random.choice(words) for _ in range(5000))[:20000])
"
small=(-D C=32 -D L=2 -D H=2 -D T=16 -D BATCH=4 -D WARMUP=0 -D PEAK_LR=1e-3 -D EVAL_EVERY=1
	-D EVAL_BATCHES=1 -D FINAL_EVAL_BATCHES=1 -D SAMPLE=1 -D DATA="$tmp/text.txt")
ok=true
for run in "init 0 0" "decayed 1 0.5" "undecayed 1 0"; do
	set -- $run
	if ! "$sinter" run "$root/examples/gpt_char.sn" "${small[@]}" -D STEPS="$2" -D WEIGHT_DECAY="$3" \
		-D OUT="$tmp/$1.safetensors" >"$tmp/$1.out" 2>"$tmp/$1.err"; then
		fail "gpt_groups run $1: $(head -1 "$tmp/$1.err")"
		ok=false
	fi
done
if $ok; then
	pass "gpt_groups three runs"
	"$PY" "$root/tests/e2e/gpt_groups.py" "$tmp/init.safetensors" "$tmp/decayed.safetensors" \
		"$tmp/undecayed.safetensors" 1e-3 0.5 # its status is the script's
else
	exit 1
fi
