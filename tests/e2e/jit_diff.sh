#!/usr/bin/env bash
# tests/e2e/jit_diff.sh — differential test of the whole path: every example
# and every program of tests/e2e and tests/spec that runs in a few seconds
# is run with the reference interpreter (--interp) and with native code (the
# JIT), and the two outputs must agree: the same text, and every number
# within a relative 1e-4 (absolute 1e-6 for numbers near zero: a loss of
# 1e-9 against 2e-9 is no disagreement; 1e-2 for an epoch of the MLP on
# sinter's own GEMM, below).  Also per program:
#   - the JIT twice with the same seed prints the same bytes (determinism);
#   - the JIT with SINTER_PAR_MIN=1, which sends every elementwise loop
#     through the thread pool (codegen/parallel.c), prints the same bytes as
#     the JIT with the default threshold (parallel loops change no result).
# A program run with --log @LOG@ has its JSON-lines log (every logged loss)
# compared the same way, without the "time" fields.  At the end the unit
# differential tests of every primitive run again with SINTER_PAR_MIN=1.
# Prints "PASS name" / "FAIL name: reason".  examples/gpt_char.sn runs two
# steps only (one takes about 2 s on the interpreter).  The MLP and a small
# GPT run again with each --gemm kernel of the matrix products.
set -u
. "$(dirname "$0")/../lib/common.sh"
# a snapshot, for the minute this takes (./sinter may be rebuilt meanwhile)
snapshot

# a token file for the programs that read one (tokens below 1000)
token_file "$tmp/tokens.bin" 2000

# jit_check NAME DIR FILE ARGS...: DIR is where the program runs (relative paths)
jit_check() {
	local name=$1 dir=$2 file=$3
	shift 3
	local out=$tmp/$name
	mkdir -p "$out"
	local rc
	for mode in interp jit jit2 par; do
		local -a args=("$@")
		args=("${args[@]//@OUT@/$out}")
		args=("${args[@]//@LOG@/$out/$mode.jsonl}")
		local -a flags=() envs=()
		[ $mode = interp ] && flags=(--interp)
		[ $mode = par ] && envs=(SINTER_PAR_MIN=1)
		(cd "$dir" && env "${envs[@]}" "$sinter" run "$file" "${flags[@]}" "${args[@]}" \
			>"$out/$mode.out" 2>"$out/$mode.err")
		rc=$?
		echo $rc >"$out/$mode.rc"
		if [ $rc -ne 0 ]; then
			fail "jit_diff $name: $mode run exited $rc: $(head -2 "$out/$mode.err" | tr '\n' ' ')"
			return
		fi
		if [ -f "$out/$mode.jsonl" ]; then
			untimed "$out/$mode.jsonl" >>"$out/$mode.out"
		fi
	done
	if msg=$(numdiff "$out/interp.out" "$out/jit.out" --rtol "${RTOL:-1e-4}" --names interp jit); then
		pass "jit_diff $name: JIT agrees with the interpreter within ${RTOL:-1e-4} ($msg)"
	else
		fail "jit_diff $name: $msg"
	fi
	if cmp -s "$out/jit.out" "$out/jit2.out"; then
		pass "jit_diff $name: JIT twice, same seed, identical output"
	else
		fail "jit_diff $name: two JIT runs with the same seed differ: $(diff "$out/jit.out" "$out/jit2.out" | head -3 | tr '\n' ' ')"
	fi
	if cmp -s "$out/jit.out" "$out/par.out"; then
		pass "jit_diff $name: every loop on the thread pool, identical output"
	else
		fail "jit_diff $name: SINTER_PAR_MIN=1 changes the output: $(diff "$out/jit.out" "$out/par.out" | head -3 | tr '\n' ' ')"
	fi
}

jit_check linreg "$root" examples/linreg.sn
# run in $tmp: it saves mlp.safetensors in the current folder.  When the
# JIT's products are sinter's own GEMM (auto picks it for the large ones on
# a CPU with AVX-512) and the interpreter's are OpenBLAS's, the two round
# differently, and over the 468 steps of an epoch the training runs drift
# apart (1e-4 relative by step 250, 1.2e-3 by step 400, measured; the
# accuracy by an image or two of 10000).  These runs allow 1e-2; a wrong
# product is off by far more, and tests/e2e/gemm_choice.sh and
# test_matmul hold a few steps and single products to a K-scaled bound.
RTOL=1e-2 jit_check mlp "$tmp" "$root/examples/mlp.sn" -D EPOCHS=1 --log @LOG@
jit_check determinism "$root" tests/e2e/determinism.sn --seed 5
jit_check numpy_mlp "$root" tests/e2e/numpy_mlp.sn -D OUT=@OUT@
jit_check stdlib_optim "$root" tests/e2e/stdlib_optim.sn
jit_check stdlib_shadow "$root" tests/e2e/stdlib_shadow.sn
jit_check stdlib_values "$root" tests/e2e/stdlib_values.sn
jit_check torch_gpt "$root" tests/e2e/torch_gpt.sn -D OUT=@OUT@
jit_check torch_pool "$root" tests/e2e/torch_pool.sn
jit_check torch_norm "$root" tests/e2e/torch_norm.sn -D OUT=@OUT@
jit_check optim_refs "$root" tests/e2e/optim_refs.sn -D OUT=@OUT@
jit_check optim_state "$root" tests/e2e/optim_state.sn -D OUT=@OUT@
# the full-size GPT example, two steps with an evaluation after each and a short sample
jit_check gpt_char "$root" examples/gpt_char.sn -D STEPS=2 -D EVAL_EVERY=1 -D EVAL_BATCHES=1 \
	-D FINAL_EVAL_BATCHES=1 -D SAMPLE=8 --log @LOG@
# the convolutional examples, a few steps each (they save their weights: run in $tmp)
jit_check lenet "$tmp" "$root/examples/lenet.sn" -D EPOCHS=1 -D STEPS=3 -D TEST=1000 --log @LOG@
jit_check resnet "$tmp" "$root/examples/resnet.sn" -D EPOCHS=1 -D STEPS=2 -D TEST=500 --log @LOG@
jit_check gpt_tokens "$root" tests/e2e/gpt_tokens.sn -D TOKENS="$tmp/tokens.bin"
# each kernel of the matrix products (--gemm; the runs above take auto's
# choice), on the MLP and on a small GPT (--interp ignores --gemm)
for kind in sinter openblas; do
	rtol=1e-4
	[ $kind = sinter ] && rtol=1e-2
	RTOL=$rtol jit_check mlp_gemm_$kind "$tmp" "$root/examples/mlp.sn" -D EPOCHS=1 --log @LOG@ --gemm=$kind
	jit_check gpt_char_gemm_$kind "$root" examples/gpt_char.sn -D T=64 -D C=128 -D L=2 -D STEPS=3 \
		-D EVAL_EVERY=1 -D EVAL_BATCHES=1 -D FINAL_EVAL_BATCHES=1 -D SAMPLE=8 --log @LOG@ --gemm=$kind
done
spec=$root/tests/spec
jit_check spec_lexical "$spec" lexical.sn
jit_check spec_host_arith "$spec" host_arith.sn
jit_check spec_tensors "$spec" tensors.sn
jit_check spec_functions "$spec" functions.sn -D D=8
jit_check spec_models "$spec" models.sn --seed 3 -D OUT=@OUT@/tower.safetensors
jit_check spec_gpt "$spec" gpt.sn -D OUT=@OUT@/gpt.safetensors
jit_check spec_train_block "$spec" train_block.sn --log @LOG@
jit_check spec_optimizers "$spec" optimizers.sn
jit_check spec_adamw_stdlib "$spec" adamw_stdlib.sn
jit_check spec_adamw_verbatim "$spec" adamw_verbatim.sn
jit_check spec_schedules "$spec" schedules.sn
jit_check spec_save_load "$spec" save_load.sn -D OUT=@OUT@/save_load.safetensors
jit_check spec_checkpoint "$spec" checkpoint.sn -D PHASE=1 -D CKPT=@OUT@/spec.ckpt
jit_check spec_datasets "$spec" datasets.sn -D TOKENS="$tmp/tokens.bin"
jit_check spec_buffers "$spec" buffers.sn -D OUT=@OUT@

# every primitive, forward and gradient, on odd and broadcast shapes
# (tests/unit/test_codegen*.c compare the JIT with the interpreter region by
# region), again with every elementwise loop on the thread pool
for t in test_codegen test_codegen_train; do
	bin=$root/build/tests/$t
	[ -x "$bin" ] || continue
	SINTER_PAR_MIN=1 "$bin" >"$tmp/$t.out" 2>&1
	rc=$?
	p=$(grep -c '^PASS' "$tmp/$t.out") f=$(grep -c '^FAIL' "$tmp/$t.out")
	if [ $rc -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]; then
		pass "jit_diff $t with SINTER_PAR_MIN=1: $p checks"
	else
		fail "jit_diff $t with SINTER_PAR_MIN=1: exit $rc, $f failed: $(grep -m2 '^FAIL' "$tmp/$t.out" | tr '\n' ' ')"
	fi
done
