#!/usr/bin/env bash
# tests/e2e/gan.sh — examples/gan.sn, two optimizers with `params =`: one
# run (seed 0, the example's 3000 steps, a few seconds) that saves both
# networks around the two steps of step 10, checked by gan_check.py: each
# step leaves the other network bit for bit and moves its own, and the
# generated points' mean and covariance approach the target's.
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=${SINTER:-$root/sinter}
scratch
if "$sinter" run "$root/examples/gan.sn" --seed 0 -D SNAP="$tmp/snap" >"$tmp/out" 2>"$tmp/err"; then
	pass "gan run"
	"$PY" "$root/tests/e2e/gan_check.py" "$tmp/snap" "$tmp/out" # its status is the script's
else
	fail "gan run: $(head -1 "$tmp/err")"
	exit 1
fi
