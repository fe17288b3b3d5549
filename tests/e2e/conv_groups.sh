#!/usr/bin/env bash
# tests/e2e/conv_groups.sh — convolutions whose small images runtime/conv.c
# multiplies several to a product (tests/e2e/conv_groups.sn: 13 images of
# 7x7, groups of 3 and a leftover image per part; strided, 1x1 strided and
# depthwise layers), four AdamW steps with every gradient:
#   - the same bits with 1 and with 2 threads, for each --gemm kernel (the
#     parts and groups depend on the batch only, never on the threads);
#   - each --gemm kernel's JIT against the interpreter (direct loops, sums
#     in double) within a relative 1e-4.
# Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
snapshot
prog=$root/tests/e2e/conv_groups.sn

run() { # NAME ARGS...: the output in $tmp/NAME.out; false when it fails
	local name=$1
	shift
	if ! "$sinter" run "$prog" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
		fail "conv_groups: $name exited non-zero: $(head -2 "$tmp/$name.err" | tr '\n' ' ')"
		return 1
	fi
}

run interp --interp || exit 1
n=$(grep -c '^loss' "$tmp/interp.out")
check "conv_groups: the interpreter prints 4 losses and the sums (got $n losses)" \
	test "$n" -eq 4 -a "$(grep -c '^sums' "$tmp/interp.out")" -eq 1
for gemm in auto sinter openblas; do
	run "$gemm-1" --gemm=$gemm --threads 1 || continue
	run "$gemm-2" --gemm=$gemm --threads 2 || continue
	check "conv_groups: --gemm=$gemm, 1 and 2 threads print the same bits" cmp -s "$tmp/$gemm-1.out" "$tmp/$gemm-2.out"
	if msg=$(numdiff "$tmp/interp.out" "$tmp/$gemm-1.out" --rtol 1e-4 --names interp "$gemm"); then
		pass "conv_groups: --gemm=$gemm agrees with the interpreter within 1e-4 ($msg)"
	else
		fail "conv_groups: --gemm=$gemm: $msg"
	fi
done
