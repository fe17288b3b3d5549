#!/usr/bin/env bash
# tests/e2e/jit_diff.sh — differential test of the whole path: every example
# and every program of tests/e2e and tests/spec that runs in a few seconds
# is run with the reference interpreter (--interp) and with native code (the
# JIT), and the two outputs must agree: the same text, and every number
# within a relative 1e-4 (absolute 1e-6 for numbers near zero: a loss of
# 1e-9 against 2e-9 is no disagreement).  Also per program:
#   - the JIT twice with the same seed prints the same bytes (determinism);
#   - the JIT with SINTER_PAR_MIN=1, which sends every elementwise loop
#     through the thread pool (codegen/parallel.c), prints the same bytes as
#     the JIT with the default threshold (parallel loops change no result).
# A program run with --log @LOG@ has its JSON-lines log (every logged loss)
# compared the same way, without the "time" fields.  At the end the unit
# differential tests of every primitive run again with SINTER_PAR_MIN=1.
# Prints "PASS name" / "FAIL name: reason".  examples/gpt_char.sn runs two
# steps only (one takes about 2 s on the interpreter).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a snapshot, for the minute this takes (./sinter may be rebuilt meanwhile);
# it finds the standard library through SINTER_STDLIB instead of beside itself
cp "$root/sinter" "$tmp/sinter" || { echo "FAIL jit_diff: no $root/sinter"; exit 1; }
sinter=$tmp/sinter
export SINTER_STDLIB=${SINTER_STDLIB:-$root/stdlib}

# a token file for the programs that read one: the 256-int32 header (magic,
# version 1, count), then uint16 tokens below 1000
/usr/bin/python3 - "$tmp/tokens.bin" <<'EOF'
import struct, sys
toks = [(i * 7) % 1000 for i in range(2000)]
head = [20240520, 1, len(toks)] + [0] * 253
open(sys.argv[1], "wb").write(struct.pack("<256i", *head) + struct.pack("<%dH" % len(toks), *toks))
EOF

# compare A B: exit 0 when they agree; else one line saying where
compare() {
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import re, sys
NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b")
a, b = (open(p, errors="replace").read() for p in sys.argv[1:3])
ta, tb = NUM.split(a), NUM.split(b)
na, nb = NUM.findall(a), NUM.findall(b)
if ta != tb or len(na) != len(nb):
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if NUM.sub("#", x) != NUM.sub("#", y):
            print(f"text differs at line {i + 1}: interp '{x[:80]}' vs jit '{y[:80]}'")
            sys.exit(1)
    print(f"outputs differ in length: {len(la)} vs {len(lb)} lines")
    sys.exit(1)
worst = (0.0, None)
for i, (x, y) in enumerate(zip(na, nb)):
    fx, fy = float(x), float(y)
    if fx != fx or fy != fy:
        if (fx != fx) != (fy != fy):
            print(f"number {i + 1}: {x} vs {y}")
            sys.exit(1)
        continue
    err = abs(fx - fy)
    if err > 1e-6 and err > 1e-4 * max(abs(fx), abs(fy)):
        print(f"number {i + 1}: interp {x} vs jit {y} (relative error {err / max(abs(fx), abs(fy)):.2e})")
        sys.exit(1)
    rel = err / max(abs(fx), abs(fy), 1e-30)
    if err > 1e-6 and rel > worst[0]:
        worst = (rel, i)
print(f"{len(na)} numbers, worst relative difference {worst[0]:.1e}")
EOF
}

# check NAME DIR FILE ARGS...: DIR is where the program runs (relative paths)
check() {
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
			echo "FAIL jit_diff $name: $mode run exited $rc: $(head -2 "$out/$mode.err" | tr '\n' ' ')"
			return
		fi
		if [ -f "$out/$mode.jsonl" ]; then
			sed -E 's/"time": *[-+0-9.eE]+,? *//' "$out/$mode.jsonl" >>"$out/$mode.out"
		fi
	done
	if msg=$(compare "$out/interp.out" "$out/jit.out"); then
		echo "PASS jit_diff $name: JIT agrees with the interpreter ($msg)"
	else
		echo "FAIL jit_diff $name: $msg"
	fi
	if cmp -s "$out/jit.out" "$out/jit2.out"; then
		echo "PASS jit_diff $name: JIT twice, same seed, identical output"
	else
		echo "FAIL jit_diff $name: two JIT runs with the same seed differ: $(diff "$out/jit.out" "$out/jit2.out" | head -3 | tr '\n' ' ')"
	fi
	if cmp -s "$out/jit.out" "$out/par.out"; then
		echo "PASS jit_diff $name: every loop on the thread pool, identical output"
	else
		echo "FAIL jit_diff $name: SINTER_PAR_MIN=1 changes the output: $(diff "$out/jit.out" "$out/par.out" | head -3 | tr '\n' ' ')"
	fi
}

check linreg "$root" examples/linreg.sn
# run in $tmp: it saves mlp.safetensors in the current folder
check mlp "$tmp" "$root/examples/mlp.sn" -D EPOCHS=1 --log @LOG@
check determinism "$root" tests/e2e/determinism.sn --seed 5
check numpy_mlp "$root" tests/e2e/numpy_mlp.sn -D OUT=@OUT@
check stdlib_optim "$root" tests/e2e/stdlib_optim.sn
check stdlib_shadow "$root" tests/e2e/stdlib_shadow.sn
check stdlib_values "$root" tests/e2e/stdlib_values.sn
check torch_gpt "$root" tests/e2e/torch_gpt.sn -D OUT=@OUT@
# the full-size GPT example, two steps with an evaluation after each and a short sample
check gpt_char "$root" examples/gpt_char.sn -D STEPS=2 -D EVAL_EVERY=1 -D EVAL_BATCHES=1 \
	-D FINAL_EVAL_BATCHES=1 -D SAMPLE=8 --log @LOG@
check gpt_tokens "$root" tests/e2e/gpt_tokens.sn -D TOKENS="$tmp/tokens.bin"
spec=$root/tests/spec
check spec_lexical "$spec" lexical.sn
check spec_host_arith "$spec" host_arith.sn
check spec_tensors "$spec" tensors.sn
check spec_functions "$spec" functions.sn -D D=8
check spec_models "$spec" models.sn --seed 3 -D OUT=@OUT@/tower.safetensors
check spec_gpt "$spec" gpt.sn -D OUT=@OUT@/gpt.safetensors
check spec_train_block "$spec" train_block.sn --log @LOG@
check spec_optimizers "$spec" optimizers.sn
check spec_adamw_stdlib "$spec" adamw_stdlib.sn
check spec_adamw_verbatim "$spec" adamw_verbatim.sn
check spec_schedules "$spec" schedules.sn
check spec_save_load "$spec" save_load.sn -D OUT=@OUT@/save_load.safetensors
check spec_checkpoint "$spec" checkpoint.sn -D PHASE=1 -D CKPT=@OUT@/spec.ckpt
check spec_datasets "$spec" datasets.sn -D TOKENS="$tmp/tokens.bin"

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
		echo "PASS jit_diff $t with SINTER_PAR_MIN=1: $p checks"
	else
		echo "FAIL jit_diff $t with SINTER_PAR_MIN=1: exit $rc, $f failed: $(grep -m2 '^FAIL' "$tmp/$t.out" | tr '\n' ' ')"
	fi
done
