#!/usr/bin/env bash
# tests/e2e/cli_numbers.sh — numeric command-line values (--seed, --threads,
# -D) are range-checked in sinter and in the binaries `sinter build` writes:
# a bad value exits 1 with one "error:" line naming it, never a saturated or
# wrapped value; the extreme valid values are accepted and reach the
# program.  (tests/errors holds the same bad values for sinter with the
# exact message.)  Prints PASS/FAIL lines.
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=$root/sinter
scratch
cat >"$tmp/p.sn" <<'SN'
const STEPS = 2
const LR = 0.5

train {
  print(STEPS, LR)
}
SN
if ! "$sinter" build "$tmp/p.sn" -o "$tmp/p" 2>"$tmp/err"; then
	fail "cli: the test program does not build: $(head -1 "$tmp/err")"
	exit 1
fi

# bad NAME WANT ARGS...: both sinter run and the binary exit 1 with WANT in
# their first stderr line
bad() {
	local name=$1 want=$2 rc first
	shift 2
	for prog in "$sinter run $tmp/p.sn" "$tmp/p"; do
		$prog "$@" >"$tmp/out" 2>"$tmp/err"
		rc=$?
		first=$(head -1 "$tmp/err")
		local who=binary
		[[ "$prog" == "$sinter "* ]] && who=sinter
		if [ "$rc" -eq 1 ] && [[ "$first" == *"error: $want"* ]] && [ ! -s "$tmp/out" ]; then
			pass "cli $who: $name"
		else
			fail "cli $who: $name: exit $rc, stderr '$first', stdout '$(head -c 100 "$tmp/out")'"
		fi
	done
}
bad "seed past 2^63-1" "--seed must be an integer from 0 to 9223372036854775807, got '9223372036854775808'" --seed 9223372036854775808
bad "seed of 23 digits" "--seed must be an integer from 0 to 9223372036854775807" --seed=99999999999999999999999
bad "negative seed" "--seed must be an integer" --seed -5
bad "seed with trailing text" "--seed must be an integer" --seed 7x
bad "seed written as a float" "--seed must be an integer" --seed 1e3
bad "threads past the pool" "--threads must be an integer from 0 to 256 (0: all cores), got '257'" --threads 257
bad "threads past 2^32" "--threads must be an integer from 0 to 256" --threads 4294967297
bad "-D int past 2^63-1" "-D STEPS=9223372036854775808: integer '9223372036854775808' is out of range" -D STEPS=9223372036854775808
bad "-D float overflow" "-D LR=1e400: number '1e400' is too large" -D LR=1e400
bad "-D nan is not a number" "-D LR=nan: LR is a float, but 'nan' is not a number" -D LR=nan

# good NAME WANT ARGS...: both print WANT
good() {
	local name=$1 want=$2
	shift 2
	for prog in "$sinter run $tmp/p.sn" "$tmp/p"; do
		local got who=binary
		[[ "$prog" == "$sinter "* ]] && who=sinter
		got=$($prog "$@" 2>"$tmp/err")
		if [ $? -eq 0 ] && [ "$got" = "$want" ]; then
			pass "cli $who: $name"
		else
			fail "cli $who: $name: got '$got', want '$want': $(head -1 "$tmp/err")"
		fi
	done
}
good "largest seed" "2 0.5" --seed 9223372036854775807
good "256 threads" "2 0.5" --threads 256
good "-D smallest int" "-9223372036854775808 0.5" -D STEPS=-9223372036854775808
good "-D largest int, tiny float" "9223372036854775807 1e-300" -D STEPS=9223372036854775807 -D LR=1e-300

# --threads is parsed once, in the options, and that one value sizes
# OpenBLAS and the pool: the --verbose report says how many threads both
# got, in either spelling of the option and wherever it stands
for spelling in "--threads 3 --verbose" "--verbose --threads=3"; do
	for prog in "$sinter run $tmp/p.sn" "$tmp/p"; do
		who=binary
		[[ "$prog" == "$sinter "* ]] && who=sinter
		# shellcheck disable=SC2086
		line=$($prog $spelling 2>&1 >/dev/null | grep '^sinter: blas:')
		if [[ "$line" == *"; 3 threads for OpenBLAS and the pool"* ]]; then
			echo "PASS cli $who: $spelling reaches OpenBLAS and the pool"
		else
			echo "FAIL cli $who: $spelling: the blas report says '$line'"
		fi
	done
done
