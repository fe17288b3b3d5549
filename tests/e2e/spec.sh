#!/usr/bin/env bash
# tests/e2e/spec.sh — conformance with LANGUAGE.md: runs every program of
# tests/spec/ with `sinter run` (from inside tests/spec, so their relative
# paths work; files they write go to a temporary folder passed with -D) and
# checks what they print with tests/e2e/spec_check.py, which recomputes the
# expected values in plain Python.  Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=${SINTER:-$root/sinter}
scratch
cd "$root/tests/spec" || exit 1

# run NAME FILE ARGS...: output in $tmp/NAME.out, .err, .rc
run() {
	local name=$1 file=$2
	shift 2
	"$sinter" run "$file" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}

token_file "$tmp/tokens.bin" 300

run lexical lexical.sn
run host_arith host_arith.sn
run tensors tensors.sn
run functions functions.sn -D D=8
run functions_default functions.sn
run models models.sn --seed 3 -D OUT="$tmp/tower.safetensors"
run models_again models.sn --seed 3 -D OUT="$tmp/tower2.safetensors"
run models_seed4 models.sn --seed 4 -D OUT="$tmp/tower3.safetensors"
run gpt gpt.sn -D OUT="$tmp/gpt.safetensors"
run train_block train_block.sn --log "$tmp/train_block.jsonl"
"$sinter" ir train_block.sn >"$tmp/train_block_ir.out" 2>"$tmp/train_block_ir.err"
echo $? >"$tmp/train_block_ir.rc"
run optimizers optimizers.sn
run adamw_stdlib adamw_stdlib.sn
run adamw_verbatim adamw_verbatim.sn
run schedules schedules.sn
run save_load save_load.sn -D OUT="$tmp/save_load.safetensors"
run checkpoint1 checkpoint.sn -D PHASE=1 -D CKPT="$tmp/spec.ckpt"
run checkpoint2 checkpoint.sn -D PHASE=2 -D CKPT="$tmp/spec.ckpt"
run datasets datasets.sn -D TOKENS="$tmp/tokens.bin"
run control_flow control_flow.sn --log "$tmp/control_flow.jsonl"
run control_flow_nobreak control_flow.sn -D BREAK_AT=1000
run dataset_csv dataset_csv.sn
run dataset_csv_again dataset_csv.sn
run dataset_tensors dataset_tensors.sn --seed 5
run dataset_tensors_again dataset_tensors.sn --seed 5
run buffers buffers.sn -D OUT="$tmp"
run documents documents.sn
run token_documents token_documents.sn
run host_values host_values.sn --log "$tmp/host_values.jsonl"
run host_values_interp host_values.sn --interp

# `sinter check` (a dry run: every region traced and compiled, nothing run)
# accepts every program that runs
for f in *.sn; do
	args=()
	[ "$f" = datasets.sn ] && args=(-D TOKENS="$tmp/tokens.bin")
	if err=$("$sinter" check "$f" "${args[@]}" 2>&1 >/dev/null); then
		pass "spec check $f"
	else
		fail "spec check $f: $(head -1 <<<"$err")"
	fi
done

"$PY" "$root/tests/e2e/spec_check.py" "$tmp"
