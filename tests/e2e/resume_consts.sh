#!/usr/bin/env bash
# tests/e2e/resume_consts.sh — -D values and restored host variables
# (LANGUAGE.md §13.6): a run of tests/e2e/resume_consts.sn cut short at
# step 3 with a checkpoint is resumed with a larger -D MAX_STEPS.  The
# variable `let max_steps = MAX_STEPS` is computed again from the new -D
# (the run trains on to step 8, as an uninterrupted run with MAX_STEPS=8
# does, bit for bit), while the variables the loop changed (best, decay)
# are restored; resume warns, at its call, about each const whose value
# differs from the checkpoint's, and a -D that changes a parameter's shape
# is that warning followed by the error naming the tensor.
# Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=$root/sinter
sn=$root/tests/e2e/resume_consts.sn
scratch --cd

"$sinter" run "$sn" -D MAX_STEPS=8 >full.out 2>full.err
check "resume_consts uninterrupted run" test $? -eq 0 -a "$(tail -1 full.out | cut -d' ' -f1-3)" = "end 8 8"

"$sinter" run "$sn" -D MAX_STEPS=5 -D STOP=3 -D CKPT=c.ckpt >part.out 2>part.err
check "resume_consts run cut short at step 3" test $? -eq 0 -a "$(tail -1 part.out | cut -d' ' -f1-3)" = "end 3 5"
cp c.ckpt c3.ckpt

"$sinter" run "$sn" -D MAX_STEPS=8 -D CKPT=c.ckpt -D RESUME=true >rest.out 2>rest.err
rc=$?
check "resume_consts resumed run exits 0" test "$rc" -eq 0
expect "resume_consts the new -D MAX_STEPS wins over the checkpoint: steps 4 to 8" "4 5 6 7 8" \
	sh -c "grep '^step' rest.out | cut -d' ' -f2 | paste -sd' '"
# best and decay come from the checkpoint: the end equals the uninterrupted run's
check "resume_consts restored variables: the end line equals the uninterrupted run's" \
	cmp -s <(tail -1 full.out) <(tail -1 rest.out)
check "resume_consts the steps after the checkpoint equal the uninterrupted run's" \
	cmp -s <(grep '^step' full.out | tail -5) <(grep '^step' rest.out)
want="$sn:24:11: warning: const MAX_STEPS is 8 in this run but was 5 when 'c.ckpt' was written; the resumed run goes on with 8"
check "resume_consts warns at resume about the changed -D, located" grep -qxF "$want" rest.err
check "resume_consts warns about STOP (3 then, 0 now) too" grep -qF "warning: const STOP is 0 in this run but was 3" rest.err
check "resume_consts warns about nothing else" test "$(grep -c warning rest.err)" -eq 2

# the same -D values as the checkpoint's: no warning
"$sinter" run "$sn" -D MAX_STEPS=8 -D CKPT=c.ckpt -D RESUME=true >same.out 2>same.err
check "resume_consts unchanged consts: no warning" test $? -eq 0 -a ! -s same.err

# a -D that changes a parameter's shape: the warning names it, then the error
"$sinter" run "$sn" -D MAX_STEPS=5 -D STOP=3 -D HIDDEN=8 -D CKPT=c3.ckpt -D RESUME=true >shape.out 2>shape.err
rc=$?
check "resume_consts changed HIDDEN: exit 1" test "$rc" -eq 1
check "resume_consts changed HIDDEN: the warning comes first" \
	sh -c "head -1 shape.err | grep -qF \"$sn:24:11: warning: const HIDDEN is 8 in this run but was 4\""
check "resume_consts changed HIDDEN: then the located error naming the tensor" \
	grep -qF "$sn:24:11: error: 'c3.ckpt': tensor 'model.l1.weight' is f32[2,4], but the model has f32[2,8]" shape.err
