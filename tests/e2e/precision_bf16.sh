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
# The activations the backward reads are stored in bf16 in the mode
# (passes/bf16store.c):
#   - on the MLP they are the hidden layers' outputs, which the backward
#     reads only as operands of the weight gradients' products, which
#     round them anyway: the losses with the pass are those without it
#     (--no-bf16store) bit for bit;
#   - `sinter plan`: bf16 values in the MLP's arena only in the mode with
#     the pass, and the arena smaller than f32's (equal without the pass);
#   - on a small GPT the pass also stores the GEMM outputs the GELU's
#     derivative reads (a product plus its bias) in bf16, which changes the
#     losses (they differ from --no-bf16store's, within 1e-2), the JIT
#     agrees with the interpreter, and a built binary prints and logs what
#     `sinter run` does bit for bit (its pipeline runs the pass too).
# Bad values are tests/errors/option_precision*.sn.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
snapshot
cd "$root" || exit 1

need "Fashion-MNIST is missing (make deps)" test -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

mlp=(bench/mlp_l.sn -D STEPS=6)
gpt=(examples/gpt_char.sn -D T=64 -D C=128 -D L=2 -D H=4 -D STEPS=3 -D EVAL_EVERY=1 -D EVAL_BATCHES=1
	-D FINAL_EVAL_BATCHES=1 -D SAMPLE=0)
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

# agree A B RTOL WHAT: the numbers printed by runs A and B agree within RTOL
agree() {
	local msg
	if msg=$(numdiff "$tmp/$1.out" "$tmp/$2.out" --rtol "$3" --names "$1" "$2"); then
		pass "precision_bf16 $4: within $3 ($msg)"
	else
		fail "precision_bf16 $4: $msg"
	fi
}
agree bf16_interp bf16 "$rtol" "JIT against the interpreter in bf16 mode"
agree f32 bf16 1e-2 "bf16 losses against f32's"
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

# ---- activations kept for the backward in bf16 (passes/bf16store.c) ----
run bf16_nostore --precision=bf16 --no-bf16store
untimed "$tmp/bf16.jsonl" >"$tmp/bf16.losses"
untimed "$tmp/bf16_nostore.jsonl" >"$tmp/bf16_nostore.losses"
check "precision_bf16 MLP: the bf16-stored activations (products' operands only) change no bit of the losses" \
	test -s "$tmp/bf16.losses" -a "$(cat "$tmp/bf16.losses")" = "$(cat "$tmp/bf16_nostore.losses")"

# plan_of ARGS...: "ARENA NBF16", the step region's activation arena and
# how many bf16 values it holds
plan_of() {
	"$sinter" plan "${mlp[@]}" "$@" 2>/dev/null | awk '
		/^region / { r++ } r == 1 && $2 ~ /^(cast|input)$/ && $3 ~ /^bf16\[/ { n++ }
		r == 1 && $1 == "arena" { a = $2 } END { print a + 0, n + 0 }'
}
read -r af nf <<<"$(plan_of --precision=f32)"
read -r ab nb <<<"$(plan_of --precision=bf16)"
read -r an nn <<<"$(plan_of --precision=bf16 --no-bf16store)"
check "precision_bf16 sinter plan: $nb bf16 values in the bf16 arena, $nf in f32's, $nn without the pass" \
	test "$nb" -gt 0 -a "$nf" -eq 0 -a "$nn" -eq 0
check "precision_bf16 sinter plan: the activation arena $ab bytes in bf16 against $af in f32 ($an without the pass)" \
	test "$ab" -gt 0 -a "$ab" -lt "$af" -a "$an" -eq "$af"

run_logged gpt_bf16 "${gpt[@]}" --precision=bf16
run_logged gpt_nostore "${gpt[@]}" --precision=bf16 --no-bf16store
run_logged gpt_interp "${gpt[@]}" --precision=bf16 --interp
agree gpt_interp gpt_bf16 "$rtol" "GPT: JIT against the interpreter with bf16 activations"
agree gpt_nostore gpt_bf16 1e-2 "GPT: bf16 activations against f32 ones"
untimed "$tmp/gpt_bf16.jsonl" >"$tmp/gpt_bf16.losses"
untimed "$tmp/gpt_nostore.jsonl" >"$tmp/gpt_nostore.losses"
check "precision_bf16 GPT: bf16 GEMM outputs for the GELU's derivative change the losses" \
	test -s "$tmp/gpt_bf16.losses" -a "$(cat "$tmp/gpt_bf16.losses")" != "$(cat "$tmp/gpt_nostore.losses")"
build_matches --precision=bf16 --precision=f32 "${gpt[@]}"

# Products that read a bf16 value in place of its widening (dW = X^T dY
# reading a bf16store copy: kernel_widens_for_products, CgGemmSpec.a_bf16)
# beside products of the same shape that read f32 (C = V = 256: the tied
# head's dW and the attention projection's, both 256 x 256 x B T): the
# JIT, which packs the bf16 bits, against the interpreter, which widens
# them and rounds again; the kernels of the two kinds stay apart.
gsq=(examples/gpt_char.sn -D T=32 -D C=256 -D L=1 -D H=4 -D STEPS=2 -D EVAL_EVERY=1 -D EVAL_BATCHES=1
	-D FINAL_EVAL_BATCHES=1 -D SAMPLE=0)
run_logged gsq_bf16 "${gsq[@]}" --precision=bf16
run_logged gsq_interp "${gsq[@]}" --precision=bf16 --interp
agree gsq_interp gsq_bf16 "$rtol" "GPT with C = V: JIT (bf16 operands read in place) against the interpreter"
nin=$("$sinter" llvm "${gsq[@]}" --precision=bf16 --verbose 2>&1 >/dev/null | grep -c 'stored bf16')
check "precision_bf16 GPT with C = V: $nin products read a bf16 operand in place (--verbose)" test "$nin" -gt 0


# ---- the GPT's activation arena (examples/gpt_char.sn as it trains) ----
# `sinter plan` is deterministic: the step region's activation arena in
# bf16 against f32's, which the issue wants at most 0.6x, and the values
# rules (c)-(e) of passes/bf16store.c store in bf16 (`sinter ir --after
# bf16store`): the norms' centred values (a cast to bf16 of a sub), no
# bf16 copy of the attention output's slice (it is taken again in the
# backward from the attention's result, which the backward reads), and
# backward values read only by products.
gfull=(examples/gpt_char.sn)
plan_gpt() {
	"$sinter" plan "${gfull[@]}" "$@" 2>/dev/null | awk '/^region / { r++ } r == 1 && $1 == "arena" { print $2; exit }'
}
gf=$(plan_gpt --precision=f32)
gb=$(plan_gpt --precision=bf16)
gn=$(plan_gpt --precision=bf16 --no-bf16store)
check "precision_bf16 gpt_char's activation arena: $gb bytes in bf16 against $gf in f32 ($(awk -v a="$gb" -v b="$gf" 'BEGIN { printf "%.3f", a / b }')x, at most 0.6x), $gn without the pass" \
	awk -v a="$gb" -v b="$gf" -v n="$gn" 'BEGIN { exit !(a > 0 && b > 0 && a <= 0.6 * b && n == b) }'
"$sinter" ir "${gfull[@]}" --precision=bf16 --after bf16store 2>/dev/null |
	awk '/^region / { r++ } r == 1' >"$tmp/gpt.ir"
# counts: centred values narrowed, slices narrowed, slices, bf16 casts of backward-kernel values
read -r ncent nslice_bf nslice <<<"$(awk '
	{ for (i = 1; i <= NF; i++) if ($i == "=") { v = $(i - 1); op[v] = $(i + 1); a[v] = $(i + 2); sub(/,$/, "", a[v]) } }
	$3 == "cast" && $0 ~ /: bf16\[/ { if (op[a[$1]] == "sub") c++; if (op[a[$1]] == "slice") s++ }
	$3 == "slice" { n++ }
	END { print c + 0, s + 0, n + 0 }' "$tmp/gpt.ir")"
check "precision_bf16 gpt_char: the 9 norms' centred values (2 a block, ln_f) stored in bf16 ($ncent)" test "$ncent" -eq 9
check "precision_bf16 gpt_char: no bf16 copy of an attention output's slice ($nslice_bf), each taken again in the backward ($nslice slices, 4 blocks)" \
	test "$nslice_bf" -eq 0 -a "$nslice" -ge 8
