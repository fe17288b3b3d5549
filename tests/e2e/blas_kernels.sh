#!/usr/bin/env bash
# tests/e2e/blas_kernels.sh — OpenBLAS's kernels (driver/blas.c): sinter ends
# on the fastest class of kernels this CPU runs (judged here independently,
# from /proc/cpuinfo), says so with --verbose, keeps an OPENBLAS_CORETYPE the
# environment set, restarts itself onto better kernels when OpenBLAS chose
# slow ones, falls back when kernels fail the sgemm self-check, and the
# chosen kernels compute right: the losses of an MLP through the JIT and
# through the interpreter agree with each other and with a run whose
# cblas_sgemm is a naive triple loop (naive_sgemm.c, preloaded).
# Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=$root/sinter
scratch
cd "$root" || exit 1

# sinter with none of the BLAS settings of this shell: what a user gets
clean() {
	env -u OPENBLAS_CORETYPE -u OPENBLAS_THREAD_TIMEOUT -u GOTO_THREAD_TIMEOUT -u SINTER_BLAS_CORE \
		-u SINTER_BLAS_FROM -u SINTER_BLAS_BAD -u SINTER_BLAS_EXECS -u SINTER_BLAS_TIMEOUT \
		-u SINTER_BLAS_FAIL "$@"
}
# the "sinter: blas: ..." line of a --verbose run (the exit code and all of
# stderr when the run fails or prints no such line)
blas_line() {
	local err rc
	err=$("$@" "$sinter" check examples/linreg.sn --verbose 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 0 ]; then
		echo "exit $rc: $err"
	else
		grep '^sinter: blas: OpenBLAS' <<<"$err" || echo "$err"
	fi
}
# kernels named in a blas line
core_of() { sed -n 's/^sinter: blas: OpenBLAS [^,]*, \([A-Za-z0-9]*\) kernels.*/\1/p' <<<"$1"; }
# speed class of a core, as driver/blas.c ranks them
rank_of() {
	case "${1,,}" in
	sapphirerapids | cooperlake | skylakex) echo 3 ;;
	haswell | zen) echo 2 ;;
	sandybridge | bulldozer | piledriver | steamroller | excavator) echo 1 ;;
	*) echo 0 ;;
	esac
}

flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
if has avx512f avx512bw avx512vl avx512dq avx512cd; then want=3
elif has avx2 fma; then want=2
elif has avx; then want=1
else want=0; fi
if grep -q -m1 AuthenticAMD /proc/cpuinfo; then best2=Zen; else best2=Haswell; fi

# 1. defaults: the fastest class the CPU runs (or a fallback that says why)
line=$(blas_line clean)
core=$(core_of "$line")
if [ -z "$core" ]; then
	fail "blas default: no 'sinter: blas:' line with --verbose: $(head -2 <<<"$line")"
elif [[ "$line" != *"self-check passed"* ]]; then
	fail "blas default: $line"
elif [ "$(rank_of "$core")" -ge $want ] || [[ "$line" == *"failed the sgemm self-check"* ]]; then
	pass "blas default: $core kernels (CPU class $want): ${line#sinter: blas: }"
else
	fail "blas default: $core kernels, but this CPU runs class $want kernels: $line"
fi
[[ "$line" == *"idle threads sleep"* ]] && pass "blas idle threads sleep" ||
	fail "blas idle threads: OpenBLAS's threads were not told to sleep: $line"

# 2. a core the environment chose is kept
keep=Prescott
[ $want -ge 1 ] && keep=Sandybridge
line=$(blas_line clean OPENBLAS_CORETYPE=$keep)
if [ "$(core_of "$line")" = $keep ] && [[ "$line" == *"kept"* ]]; then
	pass "blas keeps OPENBLAS_CORETYPE=$keep"
else
	fail "blas keeps OPENBLAS_CORETYPE=$keep: $line"
fi

# 3. OpenBLAS on the generic kernels (as a CPU newer than the library gets;
#    simulated by a core sinter itself set earlier): sinter restarts itself
#    onto the fastest class
line=$(blas_line clean OPENBLAS_CORETYPE=Prescott SINTER_BLAS_CORE=Prescott)
core=$(core_of "$line")
if [ $want -eq 0 ]; then
	[ "$core" = Prescott ] && pass "blas upgrade: nothing faster than Prescott here" ||
		fail "blas upgrade: left Prescott on a CPU without AVX: $line"
elif [ "$(rank_of "$core")" -eq $want ] && [[ "$line" == *"had chosen Prescott"* ]]; then
	pass "blas upgrade: Prescott -> $core"
else
	fail "blas upgrade: expected class $want kernels after a restart: $line"
fi

# 4. kernels that fail the self-check are abandoned for the previous ones
if [ $want -ge 2 ]; then
	fail=$core
	out=$(clean OPENBLAS_CORETYPE=Prescott SINTER_BLAS_CORE=Prescott SINTER_BLAS_FAIL=$fail \
		"$sinter" check examples/linreg.sn --verbose 2>&1 >/dev/null)
	rc=$?
	line=$(grep '^sinter: blas: OpenBLAS' <<<"$out")
	if [ $rc -eq 0 ] && [[ "$out" == *"warning: OpenBLAS's $fail kernels compute wrong results"* ]] &&
		[ "$(core_of "$line")" = Prescott ] && [[ "$line" == *"self-check passed"* ]]; then
		pass "blas fallback: $fail failed the self-check, back to Prescott"
	else
		fail "blas fallback (exit $rc): $out"
	fi
	line=$(blas_line clean SINTER_BLAS_FAIL=$fail)
	core=$(core_of "$line")
	if [ -n "$core" ] && [ "$core" != "$fail" ] && [[ "$line" == *"self-check passed"* ]]; then
		pass "blas fallback from OpenBLAS's own choice: $fail -> $core"
	else
		fail "blas fallback from OpenBLAS's own choice $fail: $line"
	fi
else
	# ISA-specific: nothing faster than the fallback kernels to fail here
	skip "blas fallback: this CPU lacks AVX2/FMA (class $want kernels)"
	skip "blas fallback from OpenBLAS's own choice: this CPU lacks AVX2/FMA"
fi

# 5. the chosen kernels compute right: MLP losses, JIT and interpreter on
#    them, against the interpreter on a naive sgemm
if ! cc -std=c11 -Wall -Wextra -O2 -shared -fPIC -o "$tmp/naive.so" tests/e2e/naive_sgemm.c 2>"$tmp/cc.err"; then
	fail "blas losses: cannot build naive_sgemm.c: $(head -2 "$tmp/cc.err")"
	exit 0
fi
for mode in jit interp naive; do
	flags=() pre=()
	[ $mode != jit ] && flags=(--interp)
	[ $mode = naive ] && pre=(LD_PRELOAD="$tmp/naive.so" NAIVE_SGEMM_COUNT="$tmp/calls")
	clean "${pre[@]}" "$sinter" run tests/e2e/numpy_mlp.sn "${flags[@]}" -D OUT="$tmp" >"$tmp/$mode.out" 2>"$tmp/$mode.err" ||
		fail "blas losses: the $mode run failed: $(head -2 "$tmp/$mode.err")"
done
calls=$(cat "$tmp/calls" 2>/dev/null || echo 0)
core=$(core_of "$(blas_line clean)")
if [ "$calls" -lt 50 ]; then
	fail "blas losses: the naive sgemm was called $calls times; the preload did not take"
	exit 0
fi
for pair in "jit interp" "jit naive" "interp naive"; do
	read -r a b <<<"$pair"
	# the ten losses, within 1e-4 relative
	if msg=$(numdiff "$tmp/$a.out" "$tmp/$b.out" --lines '^loss ' --count 10 --rtol 1e-4 --atol 0 --names "$a" "$b"); then
		pass "blas losses $a vs $b on $core kernels: $msg"
	else
		fail "blas losses $a vs $b on $core kernels: $msg (limit 1e-4)"
	fi
done
