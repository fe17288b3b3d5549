#!/usr/bin/env bash
# minimize's accumulate: tests/e2e/accumulate.sn trained with batches of 16
# and accumulate = 4 (and of 32 with accumulate = 2) must give the losses
# (each step's micro-batch losses averaged), pre-clip norms and final
# weights of batches of 64 within 1e-5 (tests/e2e/accumulate_check.py);
# the interpreter must print what the JIT prints; `sinter plan` must show
# every region of the micro-batch program with a smaller activation arena
# than the big batch's; and a `sinter build` binary, whose build's dry run
# meets the minimize statement once, must have compiled every kind of call
# of a step (first, middle, last): it prints the JIT's output, warning
# nothing about regions run on the interpreter.  A run of
# tests/e2e/accumulate_resume.sn stopped after a checkpoint and resumed logs
# what an uninterrupted one does, bit for bit.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
need "$PY cannot import numpy (python3-numpy; make test-deps installs it)" "$PY" -c "import numpy"
src=$root/tests/e2e/accumulate.sn
run() { # NAME ARGS...: a run into $tmp/NAME
	local name=$1
	shift
	mkdir -p "$tmp/$name"
	if ! "$@" -D OUT="$tmp/$name" >"$tmp/$name/out" 2>"$tmp/$name/err"; then
		fail "accumulate_$name: sinter failed: $(head -3 "$tmp/$name/err")"
		return 1
	fi
}
run big "$root/sinter" run "$src"
run k4 "$root/sinter" run "$src" -D ACC=4 -D BATCH=16 && "$PY" "$root/tests/e2e/accumulate_check.py" "$tmp/big" "$tmp/k4" 4
run k2 "$root/sinter" run "$src" -D ACC=2 -D BATCH=32 && "$PY" "$root/tests/e2e/accumulate_check.py" "$tmp/big" "$tmp/k2" 2
if run k4_interp "$root/sinter" run "$src" -D ACC=4 -D BATCH=16 --interp; then
	if d=$(numdiff "$tmp/k4/out" "$tmp/k4_interp/out" --rtol 1e-6 --count 160 --names jit interp); then
		pass "accumulate_jit_vs_interp: $d"
	else
		fail "accumulate_jit_vs_interp: $d"
	fi
fi

# the activation arenas of `sinter plan`, one per region, in region order
arenas() { "$root/sinter" plan "$src" "$@" | awk '/^  arena / { print $2 }'; }
big=$(arenas)
micro=$(arenas -D ACC=4 -D BATCH=16)
# big: the SGD step, the AdamW step; micro: first, middle and last call of each
if [ "$(wc -w <<<"$big")" -eq 2 ] && [ "$(wc -w <<<"$micro")" -eq 6 ]; then
	read -r bs ba <<<"$(echo $big)"
	read -r m1 m2 m3 m4 m5 m6 <<<"$(echo $micro)"
	if [ "$m1" -lt "$bs" ] && [ "$m2" -lt "$bs" ] && [ "$m3" -lt "$bs" ] &&
		[ "$m4" -lt "$ba" ] && [ "$m5" -lt "$ba" ] && [ "$m6" -lt "$ba" ]; then
		pass "accumulate_plan_arena: batch 16 x 4: $m1 $m2 $m3 (sgd), $m4 $m5 $m6 (adamw) bytes; batch 64: $bs, $ba"
	else
		fail "accumulate_plan_arena: batch 16 x 4: $m1 $m2 $m3 (sgd), $m4 $m5 $m6 (adamw) bytes; batch 64: $bs, $ba"
	fi
else
	fail "accumulate_plan_arena: expected 2 and 6 regions, got arenas '$big' and '$micro'"
fi

if "$root/sinter" build "$src" -D ACC=4 -D BATCH=16 -o "$tmp/accbin" >"$tmp/build.err" 2>&1; then
	if run k4_build "$tmp/accbin" -D ACC=4 -D BATCH=16; then
		check accumulate_build_output cmp -s "$tmp/k4/out" "$tmp/k4_build/out"
		if [ -s "$tmp/k4_build/err" ]; then
			fail "accumulate_build_compiled: the binary wrote to stderr: $(head -3 "$tmp/k4_build/err")"
		else
			pass "accumulate_build_compiled"
		fi
	fi
else
	fail "accumulate_build: sinter build failed: $(head -3 "$tmp/build.err")"
fi

# stopped after a step's checkpoint and resumed: the same log, bit for bit
res=$root/tests/e2e/accumulate_resume.sn
mkdir -p "$tmp/resume"
if "$root/sinter" run "$res" -D CKPT="$tmp/resume/a.ckpt" --log "$tmp/resume/full.log" >/dev/null 2>"$tmp/resume/err" &&
	"$root/sinter" run "$res" -D CKPT="$tmp/resume/b.ckpt" -D STOP=6 --log "$tmp/resume/part.log" >/dev/null 2>>"$tmp/resume/err" &&
	"$root/sinter" run "$res" -D CKPT="$tmp/resume/b.ckpt" -D RESUME=true --log "$tmp/resume/rest.log" >/dev/null 2>>"$tmp/resume/err"; then
	if d=$(numdiff <(cat "$tmp/resume/part.log" "$tmp/resume/rest.log") "$tmp/resume/full.log" --rtol 0 --atol 0 \
		--drop '"time": [^,]*,' --count 12 --names resumed whole); then
		pass "accumulate_resume: $d"
	else
		fail "accumulate_resume: $d"
	fi
else
	fail "accumulate_resume: sinter failed: $(head -3 "$tmp/resume/err")"
fi
