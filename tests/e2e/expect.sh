#!/usr/bin/env bash
# Programs in tests/expect/ print exactly their "# OUT: " lines, through the
# JIT and through the interpreter.
set -u
for f in tests/expect/*.sn; do
	want=$(sed -n 's/^# OUT: //p' "$f")
	for mode in jit interp; do
		flag=$([ $mode = interp ] && echo --interp)
		got=$(./sinter run "$f" $flag 2>&1)
		if [ "$got" = "$want" ]; then
			echo "PASS expect $(basename "$f") ($mode)"
		else
			echo "FAIL expect $(basename "$f") ($mode): got:"
			sed 's/^/    /' <<<"$got" | head -10
		fi
	done
done
