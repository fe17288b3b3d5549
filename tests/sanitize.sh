#!/usr/bin/env bash
# tests/sanitize.sh BUILD — runs the unit, error, gradcheck and spec suites
# with the ASan+UBSan sinter and unit tests of BUILD (make sanitize builds
# them), and `sinter check` of every error and spec program.  Every sanitizer report ends its process with exit status 86, which
# no test expects, so any report is a FAIL; UBSan halts on the first one.
# Leak checking is on for the unit, error and gradcheck suites: what is
# still reachable when an error exits is not a leak to LeakSanitizer.  It is
# off for the spec programs: host tensors a traced region returns are
# reference-counted but the evaluator's bindings never release them, so they
# live until exit (a known leak, bounded by the program's own values).
set -u
cd "$(dirname "$0")/.."
b=${1:-build-san}
[ -x "$b/sinter" ] || { echo "tests/sanitize.sh: no $b/sinter (run make sanitize)"; exit 1; }
export ASAN_OPTIONS=exitcode=86:detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=exitcode=86:halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=exitcode=86
SINTER=$b/sinter UNIT_DIR=$b/tests TESTS=unit,errors,gradcheck tests/run.sh
rc=$?
out=$(ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 SINTER=$(realpath "$b/sinter") bash tests/e2e/spec.sh 2>&1)
p=$(grep -c '^PASS' <<<"$out")
f=$(grep -c '^FAIL' <<<"$out")
grep '^FAIL' <<<"$out" | sed 's/^/  [spec] /'
echo "spec (sanitized): $p passed, $f failed"
# the dry run of `sinter check` (it forks traces where a run does not) on
# every error and spec program: whatever it says of the program, a
# sanitizer report (exit 86) is a failure
cp=0 cf=0
for prog in tests/errors/*.sn tests/spec/*.sn; do
	(cd "$(dirname "$prog")" && ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0 "$OLDPWD/$b/sinter" check "$(basename "$prog")" \
		>/dev/null 2>"$OLDPWD/$b/check.err")
	if [ $? -eq 86 ]; then
		echo "  [check] FAIL: $prog: $(grep -m1 'runtime error\|ERROR: AddressSanitizer' "$b/check.err")"
		cf=$((cf + 1))
	else
		cp=$((cp + 1))
	fi
done
echo "check (sanitized): $cp passed, $cf failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ] && [ "$cf" -eq 0 ] && [ "$cp" -gt 0 ]
