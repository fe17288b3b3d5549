#!/usr/bin/env bash
# tests/e2e/resume.sh — a run killed at any step resumes bit-identically
# (issue 16): examples/mlp.sn trains one epoch with a checkpoint every 50
# steps; for a few seeds a run is killed with SIGKILL once its log reaches a
# step drawn from the seed, resumed from its last checkpoint, and the losses
# it logged before the checkpoint followed by those of the resumed run must
# equal the whole loss log of an uninterrupted run, bit for bit, and so must
# the test accuracy it prints.  The resumed run's successful checkpoints
# remove the temporary files the kill may have left.
# Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=$root/sinter
mlp=$root/examples/mlp.sn
scratch --cd

"$sinter" run "$mlp" -D EPOCHS=1 --log full.jsonl >full.out 2>full.err
rc=$?
log_losses full.jsonl >full.loss
n=$(wc -l <full.loss)
if [ "$rc" -ne 0 ] || [ "$n" -ne 468 ] || grep -q BAD full.loss; then
	fail "resume: the uninterrupted run (exit $rc) logged $n valid steps, expected 468: $(head -2 full.err)"
	exit 1
fi

for seed in 1 2 3; do
	# a step between the first checkpoint (50) and the last one (450)
	k=$("$PY" -c "import random; print(random.Random($seed).randint(51, 455))")
	d=run$seed
	mkdir "$d"
	if ! kill_at_lines "$d/part.jsonl" "$k" "$sinter" run "$mlp" -D EPOCHS=1 -D CKPT="$d/mlp.ckpt" -D CKPT_EVERY=50 \
		--log "$d/part.jsonl" >"$d/part.out" 2>"$d/part.err"; then
		fail "resume seed $seed: the run ended before step $k: $(head -2 "$d/part.err")"
		continue
	fi
	"$sinter" run "$mlp" -D EPOCHS=1 -D CKPT="$d/mlp.ckpt" -D CKPT_EVERY=50 -D RESUME=true \
		--log "$d/rest.jsonl" >"$d/rest.out" 2>"$d/rest.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "resume seed $seed: the resumed run exits $rc: $(head -3 "$d/rest.err")"
		continue
	fi
	log_losses "$d/part.jsonl" >"$d/part.loss"
	log_losses "$d/rest.jsonl" >"$d/rest.loss"
	first=$(head -1 "$d/rest.loss" | cut -d' ' -f1)
	# the killed run's steps before the resumed run's first, then the resumed run's
	{ awk -v f="$first" '$1 != "BAD" && $1 < f' "$d/part.loss"; cat "$d/rest.loss"; } >"$d/merged.loss"
	if ! cmp -s full.loss "$d/merged.loss"; then
		fail "resume seed $seed (killed at step $k, resumed at step $first): losses differ:"
		diff full.loss "$d/merged.loss" | head -4
	elif ! cmp -s full.out "$d/rest.out"; then
		fail "resume seed $seed: the resumed run prints '$(cat "$d/rest.out")', not '$(cat full.out)'"
	else
		pass "resume seed $seed: killed after step $(grep -vc BAD "$d/part.loss"), resumed at step $first, 468 losses bit-identical"
	fi
	left=$(ls "$d" | grep -c '\.tmp\.')
	[ "$left" -eq 0 ] && pass "resume seed $seed: no temporary checkpoint file left" ||
		fail "resume seed $seed: $left temporary checkpoint files left: $(ls "$d")"
done

# with dropout, and checkpoints inside an epoch, at its end, in a later one:
# the resumed run logs the losses the first run logged after the checkpoint
# and prints the same accuracies for the epochs it runs
for stop in 7 10 23; do
	d=dropout$stop
	mkdir "$d"
	"$sinter" run "$root/tests/e2e/resume_dropout.sn" -D STOP=$stop -D CKPT="$d/c.ckpt" \
		--log "$d/full.jsonl" >"$d/full.out" 2>"$d/full.err" &&
		"$sinter" run "$root/tests/e2e/resume_dropout.sn" -D STOP=$stop -D CKPT="$d/c.ckpt" -D RESUME=true \
			--log "$d/rest.jsonl" >"$d/rest.out" 2>"$d/rest.err"
	rc=$?
	log_losses "$d/full.jsonl" | awk -v s=$stop '$1 == "BAD" || $1 > s' >"$d/full.loss"
	log_losses "$d/rest.jsonl" >"$d/rest.loss"
	nl=$(wc -l <"$d/rest.out")
	if [ "$rc" -ne 0 ]; then
		fail "resume dropout stop $stop: exit $rc: $(head -2 "$d/full.err" "$d/rest.err")"
	elif [ "$(wc -l <"$d/full.loss")" -ne $((30 - stop)) ] || ! cmp -s "$d/full.loss" "$d/rest.loss"; then
		fail "resume dropout stop $stop: the losses after step $stop differ:"
		diff "$d/full.loss" "$d/rest.loss" | head -4
	elif [ "$nl" -lt 1 ] || [ "$(tail -n "$nl" "$d/full.out")" != "$(cat "$d/rest.out")" ]; then
		fail "resume dropout stop $stop: prints '$(cat "$d/rest.out")', expected the end of '$(cat "$d/full.out")'"
	else
		pass "resume dropout stop $stop: $((30 - stop)) losses after the checkpoint bit-identical, $nl accuracies equal"
	fi
done
