#!/usr/bin/env bash
# The acceptance run of examples/mlp.sn: 5 epochs on Fashion-MNIST, three
# ways, each printing its test accuracy after every epoch:
#   - `sinter run` (the JIT) must reach 85% test accuracy;
#   - the binary of `sinter build`, same seed, must print the same text and
#     log the same 2340 losses as the JIT, bit for bit;
#   - `sinter run --interp` (the reference interpreter) must reach the same
#     accuracy within 0.5 percentage points.  Not bit for bit: the two sum
#     in different orders (relative differences near 1e-7 per step, checked
#     by tests/e2e/jit_diff.sh), which after 2340 AdamW steps may move a
#     handful of the 10000 test images across a decision boundary.
# A training run, not a unit test: `make check-train` runs it (CI too, about
# a minute and a half), `make test` does not.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" # the example saves mlp.safetensors in the current directory
pass=0 fail=0
check() { # name, condition command...
	local name=$1
	shift
	if "$@"; then echo "PASS $name"; pass=$((pass + 1)); else echo "FAIL $name"; fail=$((fail + 1)); fi
}
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
accuracy() { grep 'test accuracy' "$1" | tail -1 | awk '{print $NF}'; }
losses() { /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "loss" in r: print(r["step"] if "step" in r else "", repr(r["loss"]))' "$1"; }

if ! "$root/sinter" run "$root/examples/mlp.sn" --seed 0 --log jit.log >jit.out 2>&1; then
	cat jit.out
	check "sinter run examples/mlp.sn exits 0" false
	finish
fi
cat jit.out
acc=$(accuracy jit.out)
check "mlp reaches ${acc:-nothing} test accuracy in 5 epochs (at least 0.85)" \
	awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.85) }'

if "$root/sinter" build "$root/examples/mlp.sn" -o mlp 2>build.err; then
	./mlp --seed 0 --log bin.log >bin.out 2>&1
	check "the built binary prints what sinter run prints, bit for bit" cmp -s jit.out bin.out
	losses jit.log >jit.losses
	losses bin.log >bin.losses
	check "the built binary logs the same $(wc -l <jit.losses) losses, bit for bit" \
		bash -c 'test -s jit.losses && cmp -s jit.losses bin.losses'
else
	check "sinter build examples/mlp.sn: $(head -2 build.err)" false
fi

"$root/sinter" run "$root/examples/mlp.sn" --seed 0 --interp >interp.out 2>&1
iacc=$(accuracy interp.out)
check "the interpreter reaches ${iacc:-nothing}, the JIT $acc (within 0.005)" \
	awk -v a="${acc:-0}" -v b="${iacc:-9}" 'BEGIN { d = a - b; exit !(d <= 0.005 && d >= -0.005) }'
finish
