#!/usr/bin/env bash
# tests/e2e/gemm_choice.sh — `--gemm=auto|sinter|openblas`, the kernel of
# the matrix products (codegen/matmul.c), on whole training runs:
#   - the MLP of bench/mlp_l.sn (784-1024-1024-10, K up to 1024), a
#     small GPT (examples/gpt_char.sn with small -D sizes) and LeNet-5
#     (examples/lenet.sn: convolutions), a few steps each:
#     the losses and printed numbers of --gemm=sinter and --gemm=openblas
#     agree with the interpreter (--interp, OpenBLAS's products) within a
#     tolerance scaled by the largest K: 8 (K + 2) 2^-24 relative (the
#     losses, as logged with 9 digits, often agree exactly); the text must
#     be the same;
#   - --stats shows that each choice did compute the products (no product
#     on the other kernel);
#   - a binary of `sinter build --gemm=sinter` prints and logs exactly
#     what `sinter run --gemm=sinter` does (the GEMM is in the region's
#     module, so both run the same code), and rejects --gemm itself;
#   - --verbose names the kernel of every product once per product (and,
#     on lines of their own, the kernels whose epilogue runs on the tiles);
#   - a bad --gemm value is an error with exit status 1.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
snapshot
cd "$root" || exit 1

need "Fashion-MNIST is missing (make deps)" test -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

mlp=(bench/mlp_l.sn -D STEPS=4)
gpt=(examples/gpt_char.sn -D T=64 -D C=128 -D L=2 -D H=4 -D STEPS=3 -D EVAL_EVERY=1 -D EVAL_BATCHES=1
	-D FINAL_EVAL_BATCHES=1 -D SAMPLE=0)
# LeNet-5: its convolutions' products (runtime/conv.c) on the kernel chosen
conv=(examples/lenet.sn -D EPOCHS=1 -D STEPS=3 -D SHUFFLE=false -D TEST=64 -D SAVE=)
# the largest K of the programs' products: 1024 (mlp_l's hidden layer;
# LeNet's weight gradients sum blocks of at most 576 pixels per product;
# the GPT's weight gradients sum over its 8 x 64 = 512 tokens)
rtol=$("$PY" -c 'print(8 * (1024 + 2) * 2.0 ** -24)')

# run NAME MODE ARGS...: run_logged with --gemm=MODE, or --interp for MODE interp
run() {
	local name=$1 mode=$2
	shift 2
	local -a flags=(--gemm="$mode")
	[ "$mode" = interp ] && flags=(--interp)
	run_logged "$name" "$@" "${flags[@]}"
}

# products NAME: "SINTER OPENBLAS", the products --stats counted
products() { gemm_products "$tmp/$1.err"; }

for prog in mlp gpt conv; do
	declare -n args=$prog
	run "${prog}_interp" interp "${args[@]}" || continue
	for mode in sinter openblas; do
		name=${prog}_$mode
		run "$name" $mode "${args[@]}" || continue
		if msg=$(numdiff "$tmp/${prog}_interp.out" "$tmp/$name.out" --rtol "$rtol" --names interp "$mode"); then
			pass "gemm_choice $prog --gemm=$mode: losses agree with the interpreter within $rtol ($msg)"
		else
			fail "gemm_choice $prog --gemm=$mode: $msg"
		fi
		read -r own blas <<<"$(products "$name")"
		if [ $mode = sinter ]; then ok=$((own > 0 && blas == 0)); else ok=$((own == 0 && blas > 0)); fi
		check "gemm_choice $prog --gemm=$mode: --stats counts $own products on sinter's kernel, $blas on OpenBLAS" \
			test $ok -eq 1
	done
	unset -n args
done

# a built binary runs the products its build chose, bit for bit (the
# GEMM is in the region's module)
if build_matches --gemm=sinter --gemm=openblas "${gpt[@]}"; then
	read -r own blas <<<"$(products bin)"
	check "gemm_choice the binary's --stats: $own products on sinter's kernel, $blas on OpenBLAS" \
		test "$own" -gt 0 -a "$blas" -eq 0
fi

# --verbose: one line per product, naming sinter or openblas
nmat=$("$sinter" ir "${mlp[@]}" --after memplan 2>/dev/null | grep -c ' = matmul ')
for mode in auto sinter openblas; do
	"$sinter" llvm "${mlp[@]}" --gemm=$mode --verbose 2>"$tmp/verbose_$mode.err" >/dev/null
	lines=$(grep '^sinter: gemm: region ' "$tmp/verbose_$mode.err" | grep -vc ': epilogue on its tiles: ')
	named=$(grep -cE '^sinter: gemm: region [a-z0-9_]+ %[0-9]+: [0-9]+x[0-9]+x[0-9]+ [NT][NT].* -> (sinter|openblas) \(' \
		"$tmp/verbose_$mode.err")
	want=$named
	[ $mode = auto ] || want=$(grep -c -- "-> $mode (--gemm=$mode" "$tmp/verbose_$mode.err")
	check "gemm_choice --gemm=$mode --verbose: $lines lines for the $nmat products, each naming its kernel" \
		test "$nmat" -gt 0 -a "$lines" -eq "$nmat" -a "$named" -eq "$nmat" -a "$want" -eq "$nmat"
done

# a bad value: the error, exit 1, nothing run
"$sinter" run "${mlp[@]}" --gemm=foo >"$tmp/bad.out" 2>"$tmp/bad.err"
rc=$?
check "gemm_choice --gemm=foo: exit 1 (got $rc)" test $rc -eq 1
check "gemm_choice --gemm=foo: says what it takes ($(head -1 "$tmp/bad.err"))" \
	grep -qx "sinter: error: --gemm expects auto, sinter or openblas, got 'foo'" "$tmp/bad.err"
check "gemm_choice --gemm=foo: prints nothing on stdout" test ! -s "$tmp/bad.out"
