#!/usr/bin/env bash
# Same seed, same losses, bit for bit; another seed, other losses; and the
# losses go down (the run trains).
set -u
run() { ./sinter run tests/e2e/determinism.sn --seed "$1" 2>&1 || echo "EXIT $?"; }
a=$(run 1) b=$(run 1) c=$(run 2)
for out in "$a" "$b" "$c"; do
	if grep -q '^EXIT' <<<"$out"; then
		echo "FAIL determinism: sinter failed ($(grep '^EXIT' <<<"$out")): $(head -3 <<<"$out")"
		exit 1
	fi
done
n=$(grep -c '^loss' <<<"$a")
if [ "$n" -ne 50 ]; then
	echo "FAIL determinism: expected 50 losses, got $n: $(head -3 <<<"$a")"
	exit 1
fi
[ "$a" = "$b" ] && echo "PASS determinism: seed 1 twice gives identical losses" ||
	echo "FAIL determinism: seed 1 twice gives different losses"
[ "$a" != "$c" ] && echo "PASS determinism: seed 2 gives other losses" ||
	echo "FAIL determinism: seeds 1 and 2 give the same losses"
first=$(grep '^loss' <<<"$a" | head -5 | awk '{s += $2} END {print s / NR}')
last=$(grep '^loss' <<<"$a" | tail -5 | awk '{s += $2} END {print s / NR}')
awk -v f="$first" -v l="$last" 'BEGIN { exit !(l < 0.6 * f) }' &&
	echo "PASS determinism: loss falls from $first to $last" ||
	echo "FAIL determinism: loss does not fall enough ($first to $last)"
