#!/usr/bin/env bash
# Optimizer state whose shape is not the parameter's (typed states, made
# when an update first uses them):
#   - sinter plan: Adafactor keeps 2 x 1024 floats of state for a
#     [1024, 1024] weight (row and column means), none of its size, against
#     two 1024 x 1024 blocks for AdamW; a bias gets its unfactored second
#     moment in an allocation of its own;
#   - optim_state.sn: the JIT, the interpreter and the run without the pack
#     pass agree (its biases' updates are packed, the factored one is not);
#     a checkpoint holds the typed states that exist, with their types, and
#     a resumed run continues exactly.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
snapshot
prog=$root/tests/e2e/optim_state.sn

# plan_states FILE: the optimizer-state lines of sinter plan
plan_states() {
	"$sinter" plan "$1" 2>"$tmp/plan.err" | sed -n '/^optimizer states/,$p'
}
big() { # big OPT BIAS: a [1024, 1024] Linear trained one step by OPT
	cat >"$tmp/big_$1_$2.sn" <<EOT
train {
  let net = Linear(1024, 1024, bias = $2)
  let opt = $1(lr = 1e-3)
  let loss = minimize(opt, mean(net(ones([2, 1024])) ** 2))
}
EOT
	echo "$tmp/big_$1_$2.sn"
}
states=$(plan_states "$(big adafactor false)")
if grep -qE '^  opt\.vr +1 tensor +4096 bytes$' <<<"$states" && grep -qE '^  opt\.vc +1 tensor +4096 bytes$' <<<"$states" &&
	grep -qE '^  total +8192 bytes  \(8192 bytes allocated\)$' <<<"$states" && [ "$(grep -c '^  opt\.' <<<"$states")" = 2 ]; then
	pass "optim_state: adafactor on a [1024, 1024] weight holds 2 x 1024 floats of state (sinter plan)"
else
	fail "optim_state: adafactor's plan states: $(tr '\n' '|' <<<"$states") $(head -2 "$tmp/plan.err")"
fi
states=$(plan_states "$(big adamw false)")
if grep -qE '^  opt\.m +1 tensor +4194304 bytes' <<<"$states" && grep -qE '^  total +8388608 bytes' <<<"$states"; then
	pass "optim_state: adamw on the same weight holds two 1024 x 1024 blocks (sinter plan)"
else
	fail "optim_state: adamw's plan states: $(tr '\n' '|' <<<"$states") $(head -2 "$tmp/plan.err")"
fi
states=$(plan_states "$(big adafactor true)")
if grep -qE '^  opt\.v +1 tensor +4096 bytes$' <<<"$states" && grep -qE '^  total +12288 bytes  \(12288 bytes allocated\)$' <<<"$states"; then
	pass "optim_state: adafactor's bias has a whole second moment of its own, the weight none (sinter plan)"
else
	fail "optim_state: adafactor with a bias, plan states: $(tr '\n' '|' <<<"$states")"
fi

# the JIT, the interpreter and no pack pass: the same numbers
for how in jit interp nopack; do
	flags=()
	[ $how = interp ] && flags=(--interp)
	[ $how = nopack ] && flags=(--no-pack)
	mkdir -p "$tmp/$how"
	if ! "$sinter" run "$prog" -D OUT="$tmp/$how" "${flags[@]}" >"$tmp/$how/out" 2>"$tmp/$how/err"; then
		fail "optim_state: the $how run failed: $(head -2 "$tmp/$how/err")"
		exit 1
	fi
done
check "optim_state: 6 steps, then the final parameters" \
	[ "$(grep -c '^@' "$tmp/jit/out")" = 6 -a "$(wc -l <"$tmp/jit/out")" = 9 ]
if msg=$(numdiff "$tmp/interp/out" "$tmp/jit/out" --rtol 1e-5 --names interp jit); then
	pass "optim_state: the JIT agrees with the interpreter ($msg)"
else
	fail "optim_state: JIT against interpreter: $msg"
fi
check "optim_state: without the pack pass, identical output" cmp -s "$tmp/jit/out" "$tmp/nopack/out"
"$sinter" ir "$prog" --after pack >"$tmp/ir" 2>&1
check "optim_state: the biases' updates are packed, the matrix's is not" \
	grep -q 'packed "opt.v" {at=64} : f32\[19\]' "$tmp/ir"

# the checkpoint holds what exists, and resume continues the run
"$PY" - "$tmp/jit/half.ckpt" >"$tmp/ckpt" <<'EOT'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
for k, v in sorted(json.loads(raw[8:8 + n]).items()):
    if k.startswith("opt."):
        print(k, v["shape"])
EOT
want='opt.n.b []
opt.n.c []
opt.n.w []
opt.v.b [3]
opt.v.c [3]
opt.v.w [4, 3]
opt.vc.w [3]
opt.vr.w [4]'
if [ "$(cat "$tmp/ckpt")" = "$want" ]; then
	pass "optim_state: the checkpoint holds the typed states that exist, with their types"
else
	fail "optim_state: checkpoint states: $(tr '\n' '|' <"$tmp/ckpt")"
fi
mkdir -p "$tmp/resume"
cp "$tmp/jit/half.ckpt" "$tmp/resume/"
if "$sinter" run "$prog" -D OUT="$tmp/resume" -D MODE=resume >"$tmp/resume/out" 2>"$tmp/resume/err"; then
	check "optim_state: a resumed run continues exactly (steps 3-5 and the final parameters)" \
		cmp -s <(tail -n 6 "$tmp/jit/out") "$tmp/resume/out"
else
	fail "optim_state: the resumed run failed: $(head -2 "$tmp/resume/err")"
fi
