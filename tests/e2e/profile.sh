#!/usr/bin/env bash
# tests/e2e/profile.sh — `--profile trace.json`, `--profile-summary` and
# `sinter plan --svg`.  A small MLP (profile.sn, 4 steps of one batch each)
# runs under the JIT and as a built binary: the trace parses, has one event
# per kernel call of the step region per step (calls counted in `sinter
# llvm`, fused kernels in `sinter ir`), kernels summing to their region and
# events to their step within 5%, pool workers on tracks of their own; the
# summary lists the GEMMs with GFLOP/s, their shapes those --verbose
# reports (a bf16 run's transposed products too).  The program prints the same with
# and without the flags; a run ending in an error still leaves a whole
# trace, and so does one stopped by SIGTERM.  The plan picture parses, has a bar per arena value of `sinter
# plan` and renders to a PNG that is not blank.  Bad uses exit 1 with the
# reason and leave no file.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch --cd
sinter=$root/sinter
chk() { "$PY" "$root/tests/e2e/profile_check.py" "$@"; }
prog=$root/tests/e2e/profile.sn
steps=4 # N / BATCH

"$sinter" llvm "$prog" >ll.txt 2>/dev/null
check "sinter llvm exits 0" test $? -eq 0
"$sinter" ir "$prog" --after memplan >ir.txt 2>/dev/null
check "sinter ir exits 0" test $? -eq 0

"$sinter" run "$prog" --threads 2 >plain.out 2>/dev/null
check "run without flags exits 0" test $? -eq 0
check "run without flags writes no trace" bash -c '! ls *.json >/dev/null 2>&1'
"$sinter" run "$prog" --threads 2 --profile jit.json --profile-summary >jit.out 2>jit.err
check "run --profile exits 0" test $? -eq 0
check "the program prints the same under --profile" cmp -s plain.out jit.out
check "no temporary file is left" bash -c '! ls *.tmp.* >/dev/null 2>&1'
chk trace jit jit.json ll.txt ir.txt $steps --pool
chk summary jit jit.err
# bf16: the matmul carries a third attribute, which must not hide a transpose
"$sinter" run "$prog" --threads 1 --precision=bf16 --verbose --profile-summary >/dev/null 2>bf16.err
check "run --precision=bf16 --profile-summary exits 0" test $? -eq 0
chk shapes bf16 bf16.err

"$sinter" build "$prog" -o prog >/dev/null 2>&1
check "build exits 0" test $? -eq 0
./prog --threads 2 --profile built.json >built.out 2>built.err
check "built binary --profile exits 0" test $? -eq 0
check "the built binary prints the same" cmp -s plain.out built.out
check "without --profile-summary no table" bash -c '! grep -q GFLOP/s built.err'
chk trace built built.json ll.txt ir.txt $steps --pool

"$sinter" run "$prog" --profile-summary >/dev/null 2>only.err
check "--profile-summary alone exits 0" test $? -eq 0
check "--profile-summary alone writes no file" bash -c "test \$(ls | grep -c json) -eq 2"
chk summary alone only.err

"$sinter" run "$prog" -D FAIL=true --profile fail.json >/dev/null 2>fail.err
check "a failing run exits 1" test $? -eq 1
check "a failing run says why" grep -q "stopping as -D FAIL=true asks" fail.err
chk trace failing fail.json ll.txt ir.txt $steps

# SIGTERM mid-run: the step running finishes, the trace is written whole
"$sinter" run "$prog" -D EPOCHS=100000 --profile term.json --log term.jsonl >/dev/null 2>term.err &
pid=$!
pids+=("$pid")
wait_lines term.jsonl 3 "$pid"
kill -TERM "$pid"
wait "$pid"
check "an interrupted run exits 143" test $? -eq 143
chk trace interrupted term.json ll.txt ir.txt "$(wc -l <term.jsonl)"
rm -f term.*

: >err
refuse() { # NAME WANT ARGS...: exit 1, WANT in the message, no new file
	local name=$1 want=$2 before
	shift 2
	before=$(ls | wc -l)
	"$sinter" "$@" >/dev/null 2>err
	local rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$want" err && [ "$(ls | wc -l)" -eq "$before" ]; then
		pass "refuses $name"
	else
		fail "refuses $name: exit $rc, $(head -2 err), $(ls | wc -l) files (were $before)"
	fi
}
refuse "--profile without a path" "option --profile needs a value" run "$prog" --profile
refuse "--profile followed by an option" "--profile needs the path of the trace to write" run "$prog" --profile --seed 1
refuse "an unwritable trace path" "cannot write the profile 'nodir/t.json'" run "$prog" --profile nodir/t.json
mkdir adir
refuse "a folder as the trace" "cannot write the profile 'adir': it is a directory" run "$prog" --profile adir
refuse "--profile outside run" "--profile and --profile-summary go with 'sinter run'" check "$prog" --profile x.json
refuse "--profile-summary outside run" "--profile and --profile-summary go with 'sinter run'" ir "$prog" --profile-summary
refuse "plan --svg without a path" "--svg needs a path" plan "$prog" --svg
refuse "plan --svg of an unknown format" "the picture is written as .svg or .png" plan "$prog" --svg plan.jpg
refuse "plan --svg into a missing folder" "plan: cannot write" plan "$prog" --svg nodir/plan.svg

"$sinter" plan "$prog" >plan.txt 2>/dev/null
check "plan exits 0" test $? -eq 0
"$sinter" plan "$prog" --svg plan.svg >plan.out 2>/dev/null
check "plan --svg exits 0 and prints nothing" test $? -eq 0 -a ! -s plan.out
chk plan plan.svg plan.txt
need "rsvg-convert is not installed (make test-deps installs librsvg2-bin)" command -v rsvg-convert
"$sinter" plan "$prog" --svg plan.png >/dev/null 2>&1
check "plan --svg plan.png exits 0" test $? -eq 0
"$PY" "$root/tests/e2e/plot_check.py" png plan.png plan.svg
