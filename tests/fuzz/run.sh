#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD SECONDS [TARGET...] — runs each fuzz target of
# BUILD/fuzz/ (make fuzz builds them) for SECONDS seconds, starting from the
# seeds of tests/fuzz/seeds.sh plus the corpus BUILD/corpus/<target> kept
# from earlier runs.  Prints one line per target (execs, execs/s, corpus
# size) and FAIL with the saved input for every crash, leak, timeout or
# out-of-memory; exits 1 if there was any.  A finding is kept in
# BUILD/findings/<target>/; turn it into a regression test.
#
# FUZZ_SEED=N fixes libFuzzer's seed.  CI sets it: from a fresh corpus, a
# fixed seed makes a run the same sequence of inputs on any machine, cut
# where its time runs out, so CI replays a prefix of what a longer local run
# with the same seed has already executed, and whether work lands does not
# hang on the luck of a random seed.  Exploration with fresh seeds is what
# `make fuzz` does without it (run it for an hour after touching a reader).
set -u
cd "$(dirname "$0")/../.."
b=$1
secs=$2
shift 2
targets=${*:-check ir safetensors idx tokens csv}
export SINTER_STDLIB=$PWD/stdlib
# leaks: a user error exits the process in sinter, so memory held by the
# frames it leaves (the lexer's buffers, the host's caches) is not freed when
# the harness longjmps out instead; the check target therefore runs without
# leak detection (its memory is bounded by -rss_limit_mb).  The other
# targets do not exit on bad input, and a leak there is a finding.
export ASAN_OPTIONS=abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
bash tests/fuzz/seeds.sh "$b/seeds" >/dev/null
fail=0
for t in $targets; do
	bin=$b/fuzz/fuzz_$t
	[ -x "$bin" ] || { echo "FAIL fuzz $t: no $bin"; fail=1; continue; }
	mkdir -p "$b/corpus/$t" "$b/findings/$t" "$b/work"
	log=$b/findings/$t.log
	# -timeout: an input running this long is a hang (a generous bound, the
	# machine is shared); -report_slow_units at the same bound, so that a
	# slow input that is no hang (sinter check's 4 GB zeroed result under
	# ASan on a loaded machine: 19 s) is not saved as a finding;
	# -close_fd_mask=3: the targets' own diagnostics
	# would drown libFuzzer's report
	leaks=1
	[ "$t" = check ] && leaks=0
	seed=()
	[ -n "${FUZZ_SEED:-}" ] && seed=(-seed="$FUZZ_SEED")
	(cd "$b/work" && ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=$leaks "$OLDPWD/$bin" -detect_leaks=$leaks -max_total_time="$secs" "${seed[@]}" -timeout=30 -report_slow_units=30 -rss_limit_mb=2048 -max_len=65536 \
		-close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$OLDPWD/$b/findings/$t/" \
		"$OLDPWD/$b/corpus/$t" "$OLDPWD/$b/seeds/$t") >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	corpus=$(ls "$b/corpus/$t" | wc -l)
	found=$(ls "$b/findings/$t" | wc -l)
	if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
		echo "FAIL fuzz $t: exit $rc, $found finding(s) in $b/findings/$t (log $log)"
		grep -m3 -E 'ERROR|runtime error|SUMMARY' "$log" | sed 's/^/    /'
		fail=1
	else
		echo "PASS fuzz $t: ${execs:-?} execs, ${rate:-?}/s, corpus $corpus inputs in ${secs}s"
	fi
done
exit $fail
