#!/usr/bin/env bash
# tests/e2e/mpi_fault.sh — a rank that fails during data-parallel training
# (issue 14).  Two ranks train tests/e2e/mpi_mlp.sn with a checkpoint after
# every step; once the checkpoint exists, rank 1 is killed (SIGKILL), and
# in a second run stopped (SIGSTOP: alive but silent).  Each time the job
# must end by itself, non-zero, with a message (mpirun's naming the dead
# rank; sinter's "did not answer within 3 s" from --dist-timeout 3), and
# the checkpoint on disk must resume.  The seconds each took are in the
# PASS lines; the only limit is a watchdog against a hang (600 s, far above
# any answer, so that a loaded machine cannot fail the test).  Skips every
# check, saying so, only when mpirun is missing.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$root/tests/lib/mpi.sh"
mpi_setup mpi_fault 8
sinter=$root/sinter
mlp=$root/tests/e2e/mpi_mlp.sn

fault() { # name, signal
	local name=$1 sig=$2 mp r1="" p i
	# mpirun itself, not the mpi function: $! must be its pid
	mpirun --oversubscribe -np 2 "$sinter" run "$mlp" --threads 1 -D EPOCHS=1000 -D STEPS=1000000 \
		-D CKPT="$name.ckpt" --dist-timeout 3 >"$name.out" 2>"$name.err" &
	mp=$!
	pids+=("$mp")
	for i in $(seq 3000); do [ -e "$name.ckpt" ] && break; sleep 0.1; done
	sleep 0.5
	for p in $(pgrep -P "$mp"); do
		tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && r1=$p
	done
	if [ -z "$r1" ]; then
		fail "mpi_fault $name: no rank 1 under mpirun $mp: $(head -3 "$name.err")"
		fail "mpi_fault $name: the checkpoint is not checked"
		return
	fi
	local t0=$SECONDS
	kill "-$sig" "$r1"
	while kill -0 "$mp" 2>/dev/null && [ $((SECONDS - t0)) -lt 600 ]; do sleep 0.1; done
	kill -9 "$mp" 2>/dev/null # the watchdog: only when it hung
	wait "$mp"
	local rc=$? took=$((SECONDS - t0))
	[ "$sig" = STOP ] && kill -9 "$r1" 2>/dev/null
	check "mpi_fault $name: the job ends non-zero by itself ($rc, after ${took} s)" test "$rc" -ne 0 -a "$took" -lt 600
	"$sinter" run "$mlp" --threads 1 -D CKPT="$name.ckpt" -D RESUME=true -D EPOCHS=0 >"$name.resumed" 2>&1
	check "mpi_fault $name: the last checkpoint resumes ($(grep '^resumed' "$name.resumed"))" \
		grep -q '^resumed at step [1-9]' "$name.resumed"
}
fault kill KILL
check "mpi_fault kill: mpirun names the killed rank" grep -q 'process rank 1 .*exited on signal 9' kill.err
check "mpi_fault kill: no temporary checkpoint file is left" test "$(ls | grep -c '^kill\.ckpt')" = 1
fault stop STOP
check "mpi_fault stop: sinter says the others did not answer" \
	grep -q 'error: rank 0 of 2: .*: the other ranks did not answer within 3 s' stop.err
check "mpi_fault stop: no temporary checkpoint file is left" test "$(ls | grep -c '^stop\.ckpt')" = 1
