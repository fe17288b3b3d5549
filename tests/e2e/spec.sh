#!/usr/bin/env bash
# tests/e2e/spec.sh — conformance with LANGUAGE.md: runs every program of
# tests/spec/ with `sinter run` (from inside tests/spec, so their relative
# paths work; files they write go to a temporary folder passed with -D) and
# checks what they print with tests/e2e/spec_check.py, which recomputes the
# expected values in plain Python.  Prints "PASS name" / "FAIL name: reason".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
sinter=${SINTER:-$root/sinter}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root/tests/spec" || exit 1

# run NAME FILE ARGS...: output in $tmp/NAME.out, .err, .rc
run() {
	local name=$1 file=$2
	shift 2
	"$sinter" run "$file" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	echo $? >"$tmp/$name.rc"
}

# a token file: the 256-int32 header (magic, version 1, count), then uint16s
python3 - "$tmp/tokens.bin" <<'EOF'
import struct, sys
toks = [(i * 7) % 1000 for i in range(300)]
head = [20240520, 1, len(toks)] + [0] * 253
open(sys.argv[1], "wb").write(struct.pack("<256i", *head) + struct.pack("<%dH" % len(toks), *toks))
EOF

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

# `sinter check` (a dry run: every region traced and compiled, nothing run)
# accepts every program that runs
for f in *.sn; do
	args=()
	[ "$f" = datasets.sn ] && args=(-D TOKENS="$tmp/tokens.bin")
	if err=$("$sinter" check "$f" "${args[@]}" 2>&1 >/dev/null); then
		echo "PASS spec check $f"
	else
		echo "FAIL spec check $f: $(head -1 <<<"$err")"
	fi
done

python3 "$root/tests/e2e/spec_check.py" "$tmp"
