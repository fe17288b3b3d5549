#!/usr/bin/env bash
# A built binary given a -D that changes a region's shapes runs that region
# on the interpreter: it warns once per statement (not per step) on stderr,
# naming the shapes built and met and the `sinter build ... -D ...` command
# that compiles them; what it prints on stdout does not change; a -D that
# changes no region (a dynamic number, a loop count), and no -D, warn
# nothing; a -D that changes a number compiled into a region says so; the
# command it suggests builds a binary that runs the new shapes without a
# warning.
set -u
. "$(dirname "$0")/../lib/common.sh"
cd "$root" || exit 1
scratch
CHECK_PREFIX="build_shapes: "
prog=tests/e2e/build_shapes.sn
if ! ./sinter build "$prog" -o "$tmp/bin" 2>"$tmp/err"; then
	fail "build_shapes: $prog does not build: $(head -3 "$tmp/err")"
	exit 0
fi

"$tmp/bin" >"$tmp/plain.out" 2>"$tmp/plain.err"
check "the binary without -D exits 0" test $? -eq 0
check "the binary without -D warns nothing" test ! -s "$tmp/plain.err"
"$tmp/bin" -D STEPS=3 -D LR=0.01 >"$tmp/steps.out" 2>"$tmp/steps.err"
check "a -D that changes no region warns nothing" bash -c "[ \$(grep -c '^loss' '$tmp/steps.out') -eq 3 ] && test ! -s '$tmp/steps.err'"
"$tmp/bin" -D SCALE=2.0 >"$tmp/scale.out" 2>"$tmp/scale.err"
./sinter run "$prog" -D SCALE=2.0 >"$tmp/scale_jit.out" 2>&1
check "a -D that changes a compiled-in number prints what sinter run prints" cmp -s "$tmp/scale.out" "$tmp/scale_jit.out"
check "and warns once that the constants differ, at the statement reading it" \
	bash -c "[ \$(grep -c ': warning: ' '$tmp/scale.err') -eq 1 ] && grep -q '^tests/e2e/build_shapes.sn:19:[0-9]*: warning: this was compiled by sinter build with other values of the constants it reads; region eval[0-9]* runs on the interpreter' '$tmp/scale.err'"

./sinter run "$prog" -D BATCH=16 -D STEPS=6 >"$tmp/jit.out" 2>&1
check "sinter run -D BATCH=16 exits 0" test $? -eq 0
"$tmp/bin" -D BATCH=16 -D STEPS=6 >"$tmp/new.out" 2>"$tmp/new.err"
check "the binary with -D BATCH=16 exits 0" test $? -eq 0
check "its stdout is what sinter run prints, bit for bit" cmp -s "$tmp/jit.out" "$tmp/new.out"
check "it trained 6 steps" test "$(grep -c '^loss' "$tmp/new.out")" -eq 6
# the step (line 21, minimize) runs 6 times but warns once
step_warnings=$(grep -c '^tests/e2e/build_shapes.sn:21:[0-9]*: warning: ' "$tmp/new.err")
check "one warning for the training step, not one per step (got $step_warnings)" test "$step_warnings" -eq 1
check "one warning per statement whose shapes changed (4: x, y, the step, the eval)" \
	test "$(grep -c ': warning: ' "$tmp/new.err")" -eq 4
check "the step's warning names the shapes built and met" \
	grep -q '^tests/e2e/build_shapes.sn:21:[0-9]*: warning: this was compiled by sinter build for inputs f32\[32,4\], f32\[32,1\], but the -D values of this run give it inputs f32\[16,4\], f32\[16,1\]; region step[0-9]* runs on the interpreter' "$tmp/new.err"
check "a region without inputs is described by its results" \
	grep -q 'warning: this was compiled by sinter build for results f32\[32,4\], but the -D values of this run give it results f32\[16,4\]' "$tmp/new.err"
check "each warning shows the source line and a caret" \
	bash -c "[ \$(grep -c '^ *\\^\$' '$tmp/new.err') -eq 4 ]"
cmd=$(sed -n 's/^  to compile it: //p' "$tmp/new.err" | sort -u)
check "the warnings suggest one command: sinter build FILE -D BATCH=16 -D STEPS=6 (got '$cmd')" \
	test "$cmd" = "sinter build tests/e2e/build_shapes.sn -D BATCH=16 -D STEPS=6"
# the last value of a name wins, as in the run; odd characters are quoted
"$tmp/bin" -D BATCH=8 -D BATCH=16 -D STEPS=1 >/dev/null 2>"$tmp/twice.err"
cmd2=$(sed -n 's/^  to compile it: //p' "$tmp/twice.err" | sort -u)
check "a name given twice appears once with its last value (got '$cmd2')" \
	test "$cmd2" = "sinter build tests/e2e/build_shapes.sn -D BATCH=16 -D STEPS=1"
# the suggested command compiles the new shapes: no warning, same output
eval "./${cmd} -o '$tmp/bin16'" 2>"$tmp/err16"
check "the suggested command builds" test -x "$tmp/bin16"
"$tmp/bin16" >"$tmp/b16.out" 2>"$tmp/b16.err"
check "its binary runs BATCH=16 without a warning" test ! -s "$tmp/b16.err"
check "and prints what sinter run -D BATCH=16 prints" cmp -s "$tmp/jit.out" "$tmp/b16.out"
"$tmp/bin" -D BATCH=16 -D STEPS=6 --verbose >/dev/null 2>"$tmp/verbose.err"
check "--verbose warns the same, once per statement" test "$(grep -c ': warning: ' "$tmp/verbose.err")" -eq 4
