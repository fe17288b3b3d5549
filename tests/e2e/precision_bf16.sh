#!/usr/bin/env bash
# tests/e2e/precision_bf16.sh — the bf16 mixed-precision mode
# (`--precision=bf16`, passes/precision.c): every matrix product takes
# bf16 operands and sums in f32; weights, optimizer states and every other
# op stay f32.  On the MLP of bench/mlp_l.sn (784-1024-1024-10, K up to
# 1024), 6 steps of SGD on Fashion-MNIST:
#   - JIT against the interpreter, both in bf16 mode: the interpreter rounds
#     the operands with the same conversion (rt_bf16_from_f32) and calls
#     sgemm, so only the order of the f32 sums differs: the losses agree
#     within 8 (K + 2) 2^-24 relative, as tests/e2e/gemm_choice.sh's kernels;
#   - bf16 against f32 (the pass on against off): every loss within 1e-2
#     relative of f32's (bf16 keeps 8 significant bits, 2^-9 relative per
#     operand, and the sums' errors average out over K), and the first loss
#     differs from f32's (the mode did change the products);
#   - --stats: every product on sinter's kernel (OpenBLAS has none of bf16);
#     `sinter ir --after precision` marks each matmul {bf16=1}, and only in
#     the mode;
#   - a binary of `sinter build --precision=bf16` prints and logs exactly
#     what `sinter run --precision=bf16` does, and refuses --precision (its
#     kernels are compiled in);
#   - --precision=bf16 with --gemm=openblas is refused (exit 1).
# Bad values are tests/errors/option_precision*.sn.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
snapshot
cd "$root" || exit 1

need "Fashion-MNIST is missing (make deps)" test -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

mlp=(bench/mlp_l.sn -D STEPS=6)
rtol=$("$PY" -c 'print(8 * (1024 + 2) * 2.0 ** -24)')

# run NAME ARGS...: mlp_l in a mode, stdout with the log's losses into $tmp/NAME.out
run() {
	local name=$1
	shift
	run_logged "$name" "${mlp[@]}" "$@"
}

run f32 --precision=f32
run bf16 --precision=bf16
run bf16_interp --precision=bf16 --interp

if msg=$(numdiff "$tmp/bf16_interp.out" "$tmp/bf16.out" --rtol "$rtol" --names interp jit); then
	pass "precision_bf16 JIT against the interpreter in bf16 mode: within $rtol ($msg)"
else
	fail "precision_bf16 JIT against the interpreter in bf16 mode: $msg"
fi
if msg=$(numdiff "$tmp/f32.out" "$tmp/bf16.out" --rtol 1e-2 --names f32 bf16); then
	pass "precision_bf16 bf16 losses within 1e-2 of f32's ($msg)"
else
	fail "precision_bf16 bf16 losses against f32's: $msg"
fi
first() { log_losses "$1" | head -1; }
f=$(first "$tmp/f32.jsonl") b=$(first "$tmp/bf16.jsonl")
check "precision_bf16 the first loss differs from f32's (f32 '$f', bf16 '$b')" \
	test -n "$f" -a -n "$b" -a "$f" != "$b"

read -r own blas <<<"$(gemm_products "$tmp/bf16.err")"
check "precision_bf16 --stats: $own products on sinter's kernel, $blas on OpenBLAS" test "$own" -gt 0 -a "$blas" -eq 0

nmat=$("$sinter" ir "${mlp[@]}" --precision=bf16 --after precision 2>/dev/null | grep -c ' = matmul ')
nmark=$("$sinter" ir "${mlp[@]}" --precision=bf16 --after precision 2>/dev/null | grep -c ' = matmul .*bf16=1')
noff=$("$sinter" ir "${mlp[@]}" 2>/dev/null | grep -c 'bf16=1')
check "precision_bf16 sinter ir --after precision: $nmark of $nmat matmuls marked, $noff without the mode" \
	test "$nmat" -gt 0 -a "$nmark" -eq "$nmat" -a "$noff" -eq 0

# a built binary runs the same bf16 products, bit for bit
if build_matches --precision=bf16 --precision=f32 "${mlp[@]}"; then
	untimed "$tmp/bin.jsonl" >"$tmp/bin.losses"
	untimed "$tmp/f32.jsonl" >"$tmp/f32.losses"
	check "precision_bf16 the binary's losses are bf16's, not f32's" \
		bash -c "! cmp -s '$tmp/bin.losses' '$tmp/f32.losses'"
fi

"$sinter" run "${mlp[@]}" --precision=bf16 --gemm=openblas >"$tmp/ob.out" 2>"$tmp/ob.err"
rc=$?
check "precision_bf16 --gemm=openblas refused in bf16 mode: exit $rc, $(head -1 "$tmp/ob.err")" \
	bash -c "[ $rc -eq 1 ] && grep -q 'precision=bf16 needs sinter' '$tmp/ob.err' && [ ! -s '$tmp/ob.out' ]"
