#!/usr/bin/env bash
# The acceptance runs of the convolutional examples on Fashion-MNIST (issue
# 11), each with the full test set of 10000 images:
#   - examples/lenet.sn, 5 epochs, must reach 88.5% test accuracy;
#   - examples/resnet.sn, 2 epochs, must reach 87% (batch norm evaluated
#     with its running statistics);
#   - for each, the weights it saved, loaded into a fresh model by the same
#     program (-D EPOCHS=0 -D LOAD=...: no training step), must print the
#     same test accuracy, exactly: load restores every parameter and
#     running buffer bit for bit.
# Prints each run's wall time.  Training runs, not unit tests: `make
# check-conv` runs this, `make test` does not.  THREADS (default: all
# cores) goes to every run as --threads.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
threads=${THREADS:-0}
pass=0 fail=0
check() { # name, condition command...
	local name=$1
	shift
	if "$@"; then echo "PASS $name"; pass=$((pass + 1)); else echo "FAIL $name"; fail=$((fail + 1)); fi
}
accuracy() { sed -n 's/^test accuracy //p' "$1" | tail -1; }

# accept NAME EPOCHS MINIMUM: trains examples/NAME.sn, then evaluates its
# saved weights in a fresh run
accept() {
	local name=$1 epochs=$2 min=$3 t0=$SECONDS
	if ! "$root/sinter" run "$root/examples/$name.sn" --seed 0 --threads "$threads" -D EPOCHS="$epochs" \
		-D SAVE="$tmp/$name.safetensors" >"$name.out" 2>&1; then
		cat "$name.out"
		check "sinter run examples/$name.sn exits 0" false
		return
	fi
	cat "$name.out"
	local acc
	acc=$(accuracy "$name.out")
	echo "$name: $epochs epochs in $((SECONDS - t0)) s (--threads $threads)"
	check "$name reaches ${acc:-nothing} test accuracy in $epochs epochs (at least $min)" \
		awk -v a="${acc:-0}" -v m="$min" 'BEGIN { exit !(a >= m) }'
	if "$root/sinter" run "$root/examples/$name.sn" --threads "$threads" -D EPOCHS=0 \
		-D LOAD="$tmp/$name.safetensors" -D SAVE= >"$name.load.out" 2>&1; then
		local again
		again=$(accuracy "$name.load.out")
		check "$name: the saved weights loaded into a fresh model give ${again:-nothing}, the trained model $acc" \
			test -n "$again" -a "$again" = "$acc"
	else
		check "$name: loading the saved weights: $(head -2 "$name.load.out")" false
	fi
}

accept lenet 5 0.885
accept resnet 2 0.87
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
