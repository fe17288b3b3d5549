#!/usr/bin/env bash
# tests/e2e/attention.sh — the fused attention op (attention(), ir/attention.c
# and runtime/attention.c) against the formula written out with a [B, 1,
# T, T] mask (tests/e2e/attention.sn): the output and the gradients of q,
# k and v, on native code and on the interpreter, over shapes with T not a
# multiple of the 64-position tile, T = 1, odd D, D = 1, causal or not,
# with and without segments; the native code and the interpreter against
# each other, one thread against two, and a built binary against sinter
# run (the same bits).  The tile products run on sinter's generated GEMM
# (--gemm=sinter, codegen/attention.c) or on cblas_sgemm (--gemm=openblas),
# --gemm=auto choosing per tile shape: both forced ways are checked against
# each other and against the interpreter, and sinter's with one thread
# against two, bit for bit.  With --precision=bf16 (products of bf16
# operands) the native code and the interpreter agree as closely, and
# both stay within bf16's precision of the f32 formula.
set -u
. "$(dirname "$0")/../lib/common.sh"
need "$PY cannot import numpy" "$PY" -c "import numpy"
scratch
sn="$root/tests/e2e/attention.sn"
checker="$root/tests/e2e/attention.py"

# B H T D CAUSAL SEGMENT
while read -r B H T D causal segment; do
	name="B$B-H$H-T$T-D$D-causal_$causal-segment_$segment"
	defs=(-D B="$B" -D H="$H" -D T="$T" -D D="$D" -D CAUSAL="$causal" -D SEGMENT="$segment")
	ok=true
	for run in "fused-jit -D MODE=fused" "fused-interp -D MODE=fused --interp" "unfused -D MODE=unfused" \
		"fused-jit2 -D MODE=fused --threads 2" "fused-jit1 -D MODE=fused --threads 1" \
		"sinter1 -D MODE=fused --gemm=sinter --threads 1" "sinter2 -D MODE=fused --gemm=sinter --threads 2" \
		"openblas -D MODE=fused --gemm=openblas" "packed-jit1 -D MODE=packed --threads 1" \
		"packed-jit2 -D MODE=packed --threads 2" "packed-interp -D MODE=packed --interp" \
		"packed-sinter -D MODE=packed --gemm=sinter --threads 1" \
		"bf16-jit -D MODE=fused --precision=bf16" "bf16-interp -D MODE=fused --precision=bf16 --interp" \
		"bf16-packed -D MODE=packed --precision=bf16" "bf16-packed-interp -D MODE=packed --precision=bf16 --interp"; do
		read -r label flags <<<"$run"
		mkdir -p "$tmp/$name/$label"
		# shellcheck disable=SC2086 # flags are words
		if ! "$root/sinter" run "$sn" "${defs[@]}" $flags -D OUT="$tmp/$name/$label" >"$tmp/$name/$label.out" 2>&1; then
			fail "attention $name: the $label run failed: $(head -3 "$tmp/$name/$label.out")"
			ok=false
		fi
	done
	$ok || continue
	"$PY" "$checker" "$name fused/unfused" "$tmp/$name/fused-jit" "$tmp/$name/unfused" 2e-5
	"$PY" "$checker" "$name interp/unfused" "$tmp/$name/fused-interp" "$tmp/$name/unfused" 2e-5
	"$PY" "$checker" "$name jit/interp" "$tmp/$name/fused-jit" "$tmp/$name/fused-interp" 2e-5
	"$PY" "$checker" "$name threads 1/2" "$tmp/$name/fused-jit1" "$tmp/$name/fused-jit2" 0
	"$PY" "$checker" "$name gemm sinter/openblas" "$tmp/$name/sinter1" "$tmp/$name/openblas" 2e-5
	"$PY" "$checker" "$name gemm sinter/interp" "$tmp/$name/sinter1" "$tmp/$name/fused-interp" 2e-5
	"$PY" "$checker" "$name gemm sinter threads 1/2" "$tmp/$name/sinter1" "$tmp/$name/sinter2" 0
	"$PY" "$checker" "$name packed/unfused" "$tmp/$name/packed-jit1" "$tmp/$name/unfused" 2e-5
	"$PY" "$checker" "$name packed interp/unfused" "$tmp/$name/packed-interp" "$tmp/$name/unfused" 2e-5
	"$PY" "$checker" "$name packed jit/interp" "$tmp/$name/packed-jit1" "$tmp/$name/packed-interp" 2e-5
	"$PY" "$checker" "$name packed threads 1/2" "$tmp/$name/packed-jit1" "$tmp/$name/packed-jit2" 0
	"$PY" "$checker" "$name packed gemm sinter/interp" "$tmp/$name/packed-sinter" "$tmp/$name/packed-interp" 2e-5
	# --precision=bf16: the tile products round their operands; the
	# interpreter runs the runtime's kernel, which rounds where the
	# generated code does (its f64 reference would differ by ~1e-3)
	"$PY" "$checker" "$name bf16 jit/interp" "$tmp/$name/bf16-jit" "$tmp/$name/bf16-interp" 2e-5
	"$PY" "$checker" "$name bf16 packed jit/interp" "$tmp/$name/bf16-packed" "$tmp/$name/bf16-packed-interp" 2e-5
	"$PY" "$checker" "$name bf16/unfused f32" "$tmp/$name/bf16-jit" "$tmp/$name/unfused" 3e-2
done <<'SHAPES'
2 2 5 3 true false
2 3 70 7 true false
1 1 1 4 true false
2 2 200 16 true true
2 2 130 5 false true
3 1 64 8 false false
1 2 129 1 true true
2 2 130 64 true false
SHAPES

# a built binary calls the same runtime kernel with the same generated
# tile products: the same bits as sinter run
defs=(-D B=2 -D H=2 -D T=70 -D D=7 -D SEGMENT=true)
mkdir -p "$tmp/built" "$tmp/run"
if "$root/sinter" build "$sn" "${defs[@]}" --gemm=sinter -o "$tmp/att" >"$tmp/build.out" 2>&1 &&
	"$tmp/att" "${defs[@]}" -D OUT="$tmp/built" >"$tmp/built.out" 2>&1 &&
	"$root/sinter" run "$sn" "${defs[@]}" --gemm=sinter -D OUT="$tmp/run" >"$tmp/run.out" 2>&1; then
	check "attention built: the output and loss sinter run prints" cmp -s "$tmp/built.out" "$tmp/run.out"
	"$PY" "$checker" "built/run" "$tmp/built" "$tmp/run" 0
else
	fail "attention built: $(cat "$tmp/build.out" "$tmp/built.out" "$tmp/run.out" | head -3)"
fi

# the memory plan of examples/gpt_docs.sn's training step (T = 64, so that
# no weight is 64 x 64): attention work buffers, no [.., T, T] value
if "$root/sinter" plan "$root/examples/gpt_docs.sn" -D T=64 >"$tmp/plan" 2>&1; then
	expect "attention plan: gpt_docs step0 has no [.., 64, 64] value" 0 \
		awk '/^region /{r=$2} r=="step0:" && /,64,64\]/{n++} END{print n+0}' "$tmp/plan"
	expect "attention plan: gpt_docs step0 has 4 attention work buffers" 4 \
		awk '/^region /{r=$2} r=="step0:" && /w attention/{n++} END{print n+0}' "$tmp/plan"
else
	fail "attention plan: sinter plan failed: $(head -3 "$tmp/plan")"
fi

# the dense GPT (examples/gpt_char.sn, T = 128, no segment: CausalSelfAttention
# takes the fused op there too): no [.., 128, 128] value in any region,
# training or sampling, and the step's 4 layers each an attention and an
# attention_grad with their work buffers
if "$root/sinter" plan "$root/examples/gpt_char.sn" >"$tmp/plan_char" 2>&1; then
	expect "attention plan: gpt_char has no [.., 128, 128] value in any region" 0 \
		awk '/,128,128\]/{n++} END{print n+0}' "$tmp/plan_char"
	expect "attention plan: gpt_char step0 has 8 attention work buffers" 8 \
		awk '/^region /{r=$2} r=="step0:" && /w attention/{n++} END{print n+0}' "$tmp/plan_char"
else
	fail "attention plan: sinter plan gpt_char failed: $(head -3 "$tmp/plan_char")"
fi
