#!/usr/bin/env bash
# tests/e2e/param_groups.sh — which parameters an optimizer updates
# (`params =`, groups): tests/e2e/param_groups.sn run on the JIT and the
# interpreter, checked by param_groups.py (a NumPy replay of each group's
# SGD steps, untouched parameters bit for bit, checkpointed state); and the
# traced step differentiates only the optimizer's parameters.
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=${SINTER:-$root/sinter}
scratch
src=$root/tests/e2e/param_groups.sn
status=0  # 1 after any FAIL line (make mutation-check reads it)

for mode in jit interp; do
	flags=()
	[ "$mode" = interp ] && flags=(--interp)
	if "$sinter" run "$src" "${flags[@]}" -D CKPT="$tmp/$mode.ckpt" >"$tmp/$mode.out" 2>"$tmp/$mode.err"; then
		pass "param_groups $mode run"
		"$PY" "$root/tests/e2e/param_groups.py" "$tmp/$mode.ckpt" <"$tmp/$mode.out" >"$tmp/$mode.check" || status=1
		sed "s/^\(PASS\|FAIL\) param_groups /\1 param_groups $mode /" "$tmp/$mode.check"
	else
		fail "param_groups $mode run: $(head -1 "$tmp/$mode.err")"
		status=1
	fi
done

# the first step's region: a grad node for m.a and m.b, none for n
if "$sinter" ir "$src" -D CKPT="$tmp/ir.ckpt" >"$tmp/ir.out" 2>"$tmp/ir.err"; then
	first=$(awk '/^region step/ { n++ } n == 1' "$tmp/ir.out")
	grads=$(printf '%s\n' "$first" | grep -c '= grad ')
	params=$(printf '%s\n' "$first" | grep -c '= param ')
	if [ "$grads" -eq 2 ] && [ "$params" -eq 4 ]; then
		pass "param_groups grad nodes of owned parameters only"
	else
		fail "param_groups grad nodes: $grads grads over $params params (want 2 over 4)"
		status=1
	fi
else
	fail "param_groups ir: $(head -1 "$tmp/ir.err")"
	status=1
fi
exit $status
