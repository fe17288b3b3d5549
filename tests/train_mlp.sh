#!/usr/bin/env bash
# The acceptance run of examples/mlp.sn: 5 epochs on Fashion-MNIST must reach
# 85% test accuracy, printed by the program itself.  A training run, not a
# unit test: `make check-train` runs it (CI too), `make test` does not.
set -u
cd "$(dirname "$0")/.."
out=$(./sinter run examples/mlp.sn --seed 0 2>&1) || { echo "$out"; echo "0 passed, 1 failed"; exit 1; }
echo "$out"
acc=$(grep 'test accuracy' <<<"$out" | tail -1 | awk '{print $NF}')
if awk -v a="$acc" 'BEGIN { exit !(a >= 0.85) }'; then
	echo "PASS mlp reaches $acc test accuracy in 5 epochs"
	echo "1 passed, 0 failed"
else
	echo "FAIL mlp reaches only ${acc:-nothing} test accuracy in 5 epochs"
	echo "0 passed, 1 failed"
	exit 1
fi
