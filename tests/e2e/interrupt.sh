#!/usr/bin/env bash
# tests/e2e/interrupt.sh — never lose work (issue 16): SIGINT and SIGTERM
# during training finish the step, leave a complete log and no partial
# file, and exit 130/143 (sinter run and a `sinter build` binary); a second
# run given the log path of a live run is refused instead of interleaving
# its lines; a successful checkpoint removes the temporary files killed
# writers left of its path, and only those.
# Prints "PASS name" / "FAIL name: reason".
set -u
# job control: background runs get SIGINT as a terminal's would (without it
# the shell starts them with SIGINT ignored, which sinter respects)
set -m
. "$(dirname "$0")/../lib/common.sh"
sinter=$root/sinter
mlp=$root/examples/mlp.sn
scratch --cd

# prints the last step of a log whose lines are all JSON with steps 1, 2, ...
# in order and a float loss (its repr has a point, an exponent, inf or nan);
# else an explanation starting with "bad"
log_last() {
	log_losses "$1" | awk '
		$1 != NR || $2 !~ /[.ein]/ { print "bad line " NR ": " substr($0, 1, 60); bad = 1; exit }
		END { if (!bad) print NR }'
}

# interrupt NAME SIGNALS EXIT CMD...: starts CMD (logging to NAME.jsonl,
# checkpointing to NAME.ckpt every 10 steps), sends the signals once 30
# steps are logged, and checks the exit status, the message, the log and
# that no temporary file is left
interrupt() {
	local name=$1 sigs=$2 want=$3
	shift 3
	"$@" -D EPOCHS=1 -D CKPT="$name.ckpt" -D CKPT_EVERY=10 --log "$name.jsonl" >"$name.out" 2>"$name.err" &
	local pid=$! rc last
	pids+=("$pid")
	if ! wait_lines "$name.jsonl" 30 "$pid"; then
		fail "$name: the run ended before step 30: $(head -2 "$name.err")"
		return
	fi
	for s in $sigs; do kill -s "$s" "$pid"; done
	wait "$pid"
	rc=$?
	last=$(log_last "$name.jsonl")
	if [ "$rc" -ne "$want" ]; then
		fail "$name: exit $rc, expected $want: $(tail -1 "$name.err")"
	elif [[ "$last" == bad* ]]; then
		fail "$name: the log is not whole: $last"
	elif [ "$sigs" = "${sigs%% *}" ] &&
		! grep -q "^sinter: interrupted by SIG${sigs} after step $last; stopping$" "$name.err"; then
		fail "$name: no 'interrupted by SIG$sigs after step $last' message: $(tail -1 "$name.err")"
	elif ls | grep -q "^$name\.ckpt\.tmp\."; then
		fail "$name: temporary files left: $(ls | grep "^$name\.ckpt\.tmp\.")"
	else
		pass "$name: exit $want, log whole up to step $last, nothing partial"
	fi
}

interrupt sigint INT 130 "$sinter" run "$mlp"
interrupt sigterm TERM 143 "$sinter" run "$mlp"
interrupt sigint_twice "INT INT" 130 "$sinter" run "$mlp"
if "$sinter" build "$mlp" -o mlp_bin >build.out 2>&1; then
	interrupt built_sigterm TERM 143 ./mlp_bin
	interrupt built_sigint INT 130 ./mlp_bin
else
	fail "built: sinter build: $(head -2 build.out)"
fi

# two runs, one log: the second is refused, the first's log stays whole
"$sinter" run "$mlp" -D EPOCHS=1 --log shared.jsonl >first.out 2>first.err &
pid=$!
pids+=("$pid")
if wait_lines shared.jsonl 5 "$pid"; then
	"$sinter" run "$mlp" -D EPOCHS=1 --log shared.jsonl >second.out 2>second.err
	rc=$?
	want="sinter: error: 'shared.jsonl' is the log of another run that is still going; give this run another --log path"
	[ "$rc" -eq 1 ] && [ "$(head -1 second.err)" = "$want" ] &&
		pass "log shared: a second run on a live run's log is refused" ||
		fail "log shared: exit $rc, $(head -1 second.err)"
	wait "$pid"
	last=$(log_last shared.jsonl)
	[ "$last" = 468 ] && pass "log shared: the first run's log is whole (468 steps)" ||
		fail "log shared: the first run's log: $last"
	"$sinter" run "$mlp" -D EPOCHS=1 --log shared.jsonl >third.out 2>third.err &&
		[ "$(log_last shared.jsonl)" = 468 ] &&
		pass "log shared: the path is free again once the run ended" ||
		fail "log shared: a run after the first one ended: $(head -1 third.err)"
else
	fail "log shared: the first run ended early: $(head -2 first.err)"
fi

# stale temporary files: removed when their writer is dead and their lock
# free; kept when the writer lives, the lock is held, or they are not ours
dead=$(sh -c 'echo $$')
mk() { head -c 1000 /dev/urandom >"$1"; }
mk "c.ckpt.tmp.$dead.AAAAAA"
mk "c.ckpt.tmp.$dead.BBBBBB"
mk "c.ckpt.tmp.$$.CCCCCC"
mk "c.ckpt.tmp.$dead.DDDDDD"
mk "c.ckpt.tmp.notours"
mk "d.ckpt.tmp.$dead.EEEEEE"
# the holder is one process (a subshell that becomes sleep), so that killing
# it ends the lock; flock(1) would leave its sleep behind, holding this
# script's stdout open for ten minutes after the script ends
(exec 9<"c.ckpt.tmp.$dead.DDDDDD" && flock 9 && exec sleep 600) >/dev/null 2>&1 &
holder=$!
pids+=("$holder")
while flock -n "c.ckpt.tmp.$dead.DDDDDD" true; do sleep 0.02; done # until the holder has it
(cd "$root/tests/spec" && "$sinter" run checkpoint.sn -D PHASE=1 -D CKPT="$tmp/c.ckpt" >/dev/null 2>"$tmp/ck.err")
rc=$?
# both lists sorted the same way: the order of the pids is the machine's
got=$(ls | grep '^[cd]\.ckpt' | LC_ALL=C sort | tr '\n' ' ')
wantls=$(printf '%s\n' c.ckpt "c.ckpt.tmp.$$.CCCCCC" "c.ckpt.tmp.$dead.DDDDDD" c.ckpt.tmp.notours \
	"d.ckpt.tmp.$dead.EEEEEE" | LC_ALL=C sort | tr '\n' ' ')
[ "$rc" -eq 0 ] && [ "$got" = "$wantls" ] &&
	pass "temp files: the stale ones of the path are removed, the live, locked and foreign ones kept" ||
	fail "temp files: exit $rc, files: $got (expected $wantls) $(head -1 ck.err)"
disown "$holder" 2>/dev/null # no job-control notice when it ends
kill "$holder" 2>/dev/null
