#!/usr/bin/env bash
# Programs in tests/expect/ print exactly their "# OUT: " lines, through the
# JIT and through the interpreter, and exit 0.
set -u
. "$(dirname "$0")/../lib/common.sh"
for f in "$root"/tests/expect/*.sn; do
	want=$(sed -n 's/^# OUT: //p' "$f")
	for mode in jit interp; do
		flag=$([ $mode = interp ] && echo --interp)
		got=$("$root/sinter" run "$f" $flag 2>&1)
		rc=$?
		if [ $rc -ne 0 ]; then
			fail "expect $(basename "$f") ($mode): exit $rc: $(head -3 <<<"$got")"
		elif [ "$got" = "$want" ]; then
			pass "expect $(basename "$f") ($mode)"
		else
			fail "expect $(basename "$f") ($mode): got:"
			sed 's/^/    /' <<<"$got" | head -10
		fi
	done
done
