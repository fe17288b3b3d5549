#!/usr/bin/env bash
# The acceptance run of examples/gpt_char.sn: 2000 steps on the fortune
# files must reach a validation loss below 1.92 nats per byte, printed by the
# program itself ("final val_loss X", over 200 held-out batches).  A training
# run, not a unit test: `make check-gpt` runs it, `make test` does not.  The
# run log goes to build/gpt_char.jsonl (per-step loss and time).
set -u
cd "$(dirname "$0")/.."
mkdir -p build
out=$(./sinter run examples/gpt_char.sn --seed 0 --log build/gpt_char.jsonl 2>&1) ||
	{ echo "$out"; echo "0 passed, 1 failed"; exit 1; }
echo "$out"
val=$(grep '^final val_loss' <<<"$out" | tail -1 | awk '{print $NF}')
if [ -n "$val" ] && awk -v v="$val" 'BEGIN { exit !(v < 1.92) }'; then
	echo "PASS gpt_char reaches validation loss $val in 2000 steps"
	echo "1 passed, 0 failed"
else
	echo "FAIL gpt_char reaches only validation loss ${val:-nothing} in 2000 steps (need < 1.92)"
	echo "0 passed, 1 failed"
	exit 1
fi
