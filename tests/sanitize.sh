#!/usr/bin/env bash
# tests/sanitize.sh BUILD — runs the unit, error, gradcheck and spec suites
# with the ASan+UBSan sinter and unit tests of BUILD (make sanitize builds
# them).  Every sanitizer report ends its process with exit status 86, which
# no test expects, so any report is a FAIL; UBSan halts on the first one.
# Leak checking is on: sinter frees what it allocates, and what is still
# reachable when an error exits is not a leak to LeakSanitizer.
set -u
cd "$(dirname "$0")/.."
b=${1:-build-san}
[ -x "$b/sinter" ] || { echo "tests/sanitize.sh: no $b/sinter (run make sanitize)"; exit 1; }
export ASAN_OPTIONS=exitcode=86:detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=exitcode=86:halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=exitcode=86
SINTER=$b/sinter UNIT_DIR=$b/tests TESTS=unit,errors,gradcheck tests/run.sh
rc=$?
out=$(SINTER=$(realpath "$b/sinter") bash tests/e2e/spec.sh 2>&1)
p=$(grep -c '^PASS' <<<"$out")
f=$(grep -c '^FAIL' <<<"$out")
grep '^FAIL' <<<"$out" | sed 's/^/  [spec] /'
echo "spec (sanitized): $p passed, $f failed"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$p" -gt 0 ]
