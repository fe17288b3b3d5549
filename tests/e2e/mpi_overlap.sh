#!/usr/bin/env bash
# tests/e2e/mpi_overlap.sh — gradient buckets on 2 ranks (issue 14): the
# GPT of mpi_gpt.sn with 16K buckets prints the same bits as with one
# bucket per arena (with 2 ranks a sum has one order), and its --profile
# trace shows the all-reduce of early buckets running while backward
# kernels still run, in every step (tests/e2e/mpi_overlap_check.py); the
# same check must fail on the trace of one bucket per arena, which is sent
# only at the update.  Skips every check, saying so, only when mpirun is
# missing.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$root/tests/lib/mpi.sh"
mpi_setup mpi_overlap 6
gpt=$root/tests/e2e/mpi_gpt.sn
run2() { mpi 2 "$root/sinter" run "$gpt" --threads 1 "$@"; }

run2 --bucket-size 16K --profile small.json >small.out 2>small.err
check "mpi_overlap: 16K buckets run (exit $?)" test -s small.out
run2 --bucket-size 1G --profile whole.json >whole.out 2>whole.err
check "mpi_overlap: 16K buckets print what one bucket per arena prints, bit for bit" cmp -s small.out whole.out
"$PY" "$root/tests/e2e/mpi_overlap_check.py" small.json
"$PY" "$root/tests/e2e/mpi_overlap_check.py" whole.json >whole.check
check "mpi_overlap: the check finds no overlap with one bucket per arena" \
	grep -q "^FAIL mpi_overlap every step after the first overlaps" whole.check
