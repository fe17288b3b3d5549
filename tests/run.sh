#!/usr/bin/env bash
# tests/run.sh — runs every test suite and ends with "N passed, N failed".
#
#   unit      build/tests/test_* (C programs printing PASS/FAIL lines)
#   errors    tests/errors/*.sn: bad input; message, location, caret, exit code
#   gradcheck tests/grad/*.sn through `sinter gradcheck`
#   roundtrip every example's regions: print, parse back, print identically
#   lit       IR golden tests (lit + FileCheck) in tests/lit
#   e2e       tests/e2e/*.sh (scripts printing PASS/FAIL lines)
#   layers    tests/layers.sh: includes follow the layer rule (and its self-test)
#
# Run from the repository root (make test does).  TESTS=unit,errors limits
# the suites.  SINTER=path and UNIT_DIR=folder test another build (make
# sanitize tests its ASan+UBSan build this way).
#
# A SKIP line is counted and shown, never silently dropped: the closing line
# then reads "N passed, N failed, N skipped".  Each suite states in
# tests/plan how many checks it runs at least; a suite that ran fewer
# (PASS + FAIL + SKIP lines), or that has no entry there, fails.
set -u
cd "$(dirname "$0")/.."
SINTER=$(realpath "${SINTER:-./sinter}")
UNIT_DIR=${UNIT_DIR:-build/tests}
export SINTER
pass=0
fail=0
skip=0
only=${TESTS:-unit,errors,gradcheck,roundtrip,lit,e2e,layers}
want() { [[ ",$only," == *",$1,"* ]]; }

# planned NAME RAN: one failure unless tests/plan promises at most RAN checks
# for NAME (lines "NAME MINIMUM"; # comments)
planned() {
	local name=$1 ran=$2 want
	want=$(awk -v n="$name" '$1 == n { print $2 }' tests/plan)
	if [ -z "$want" ]; then
		echo "  [$name] FAIL: no entry in tests/plan stating how many checks it runs ($ran ran)"
		fail=$((fail + 1))
	elif [ "$ran" -lt "$want" ]; then
		echo "  [$name] FAIL: ran $ran checks, tests/plan expects at least $want"
		fail=$((fail + 1))
	fi
}

# count PASS/FAIL lines of a command's output; a non-zero exit without a
# FAIL line counts as one failure
count() {
	local name=$1 out rc p f s
	shift
	out=$("$@" 2>&1)
	rc=$?
	p=$(grep -c '^PASS' <<<"$out")
	f=$(grep -c '^FAIL' <<<"$out")
	s=$(grep -c '^SKIP' <<<"$out")
	grep -E '^(FAIL|SKIP)' <<<"$out" | sed "s|^|  [$name] |"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "  [$name] FAIL: exit $rc with no FAIL line; last output:"
		tail -5 <<<"$out" | sed 's/^/    /'
		f=1
	fi
	if [ $((p + f + s)) -eq 0 ]; then
		echo "  [$name] FAIL: ran no checks"
		f=1
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
	echo "$name: $p passed, $f failed$([ "$s" -gt 0 ] && echo ", $s skipped")"
	planned "$name" $((p + f + s))
}

if want unit; then
	for t in "$UNIT_DIR"/test_*; do
		[ -x "$t" ] && count "unit/$(basename "$t")" "$t"
	done
fi

if want errors; then
	p=0 f=0
	for t in tests/errors/*.sn; do
		name=${t#tests/errors/}
		cmd=$(sed -n 's/^# RUN: //p' "$t" | head -1)
		args=$(sed -n 's/^# ARGS: //p' "$t" | head -1)
		want_err=$(sed -n 's/^# ERROR: //p' "$t" | head -1)
		want_exit=$(sed -n 's/^# EXIT: //p' "$t" | head -1)
		err=$(cd tests/errors && "$SINTER" ${cmd:-check} "$name" $args 2>&1 >/dev/null)
		rc=$?
		first=$(head -1 <<<"$err")
		third=$(sed -n 3p <<<"$err")
		if [ "$first" != "$want_err" ]; then
			echo "  [errors] FAIL $name: expected: $want_err"
			echo "  [errors]      $(printf '%*s' ${#name} '') got:      $first"
			f=$((f + 1))
		elif [ "$rc" != "${want_exit:-1}" ]; then
			echo "  [errors] FAIL $name: exit $rc, expected ${want_exit:-1}"
			f=$((f + 1))
		elif [[ "$want_err" == *":"*":"*": error: "* ]] && [[ "$third" != *"^"* ]]; then
			echo "  [errors] FAIL $name: no caret line under the source line"
			f=$((f + 1))
		elif [ "$rc" -gt 128 ]; then
			echo "  [errors] FAIL $name: crashed (signal $((rc - 128)))"
			f=$((f + 1))
		else
			p=$((p + 1))
		fi
	done
	pass=$((pass + p))
	fail=$((fail + f))
	echo "errors: $p passed, $f failed"
	planned errors $((p + f))
fi

if want gradcheck; then
	for t in tests/grad/*.sn; do
		count "gradcheck/$(basename "$t")" "$SINTER" gradcheck "$t"
	done
fi

if want roundtrip; then
	p=0 f=0
	tmp=$(mktemp -d)
	for ex in examples/*.sn; do
		for after in trace autodiff; do
			"$SINTER" ir "$ex" --after $after >"$tmp/a.ir" 2>"$tmp/err" &&
				"$SINTER" opt "$tmp/a.ir" --passes= >"$tmp/b.ir" 2>>"$tmp/err"
			if [ $? -eq 0 ] && [ -s "$tmp/a.ir" ] && cmp -s "$tmp/a.ir" "$tmp/b.ir"; then
				p=$((p + 1))
			else
				echo "  [roundtrip] FAIL $ex after $after: $(head -3 "$tmp/err")"
				diff "$tmp/a.ir" "$tmp/b.ir" | head -5 | sed 's/^/    /'
				f=$((f + 1))
			fi
		done
	done
	rm -rf "$tmp"
	pass=$((pass + p))
	fail=$((fail + f))
	echo "roundtrip: $p passed, $f failed"
	planned roundtrip $((p + f))
fi

if want lit; then
	lit=/usr/lib/llvm-19/build/utils/lit/lit.py
	out=$(/usr/bin/python3 "$lit" -v tests/lit 2>&1)
	p=$(grep -c '^PASS:' <<<"$out")
	f=$(grep -cE '^(FAIL|UNRESOLVED|XPASS):' <<<"$out")
	s=$(grep -c '^UNSUPPORTED:' <<<"$out")
	grep -E '^(FAIL|UNRESOLVED|XPASS|UNSUPPORTED):' <<<"$out" | sed 's/^/  [lit] /'
	[ "$p" -eq 0 ] && [ "$f" -eq 0 ] && { echo "  [lit] FAIL: no lit test ran"; f=1; }
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
	echo "lit: $p passed, $f failed$([ "$s" -gt 0 ] && echo ", $s skipped")"
	planned lit $((p + f + s))
fi

if want e2e; then
	for t in tests/e2e/*.sh; do
		[ -f "$t" ] && count "e2e/$(basename "$t")" bash "$t"
	done
fi

if want layers; then
	count layers bash tests/layers.sh --suite
fi

echo "$pass passed, $fail failed$([ "$skip" -gt 0 ] && echo ", $skip skipped")"
[ "$fail" -eq 0 ]
