#!/usr/bin/env bash
# tests/e2e/mpi_resume.sh — checkpoints across numbers of ranks (issue 14):
# a checkpoint written at step 50 by 2 ranks (rank 0 alone writes it) is
# resumed by one process and by 4 ranks (16 rows each), and one written by
# one process is resumed by 2 ranks; each resumed run's 50 losses must be
# those of steps 51..100 of an uninterrupted single-process run within 1e-6
# relative, and the 2-rank runs leave no temporary file beside the
# checkpoint.  Skips every check,
# saying so, only when mpirun is missing.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$root/tests/lib/mpi.sh"
mpi_setup mpi_resume 8
sinter=$root/sinter
mlp=$root/tests/e2e/mpi_mlp.sn

"$sinter" run "$mlp" --threads 1 >full.out 2>full.err || { fail "mpi_resume: the full run fails: $(head -3 full.err)"; exit 1; }
tail -n 50 full.out >want.out

# from 2 ranks to 1
mpi 2 "$sinter" run "$mlp" --threads 1 -D STEPS=50 -D CKPT=two.ckpt >two.out 2>two.err
check "mpi_resume: 2 ranks write the checkpoint (exit $?), nothing else beside it" \
	test -s two.ckpt -a "$(ls | grep -c '^two\.ckpt')" = 1
cp two.ckpt four.ckpt # each resumed run checkpoints over its file
"$sinter" run "$mlp" --threads 1 -D CKPT=two.ckpt -D RESUME=true >one-resumed.all 2>one-resumed.err
grep '^loss' one-resumed.all >one-resumed.out
check "mpi_resume: one process resumes it (exit $?)" test -s one-resumed.out
check "mpi_resume: 2 ranks then 1: steps 51..100 as the uninterrupted run ($(numdiff --rtol 1e-6 --atol 0 \
	--count 50 want.out one-resumed.out 2>&1 | tail -1))" agree --rtol 1e-6 --atol 0 --count 50 want.out one-resumed.out

# from 2 ranks to 4 (more ranks than cores: --oversubscribe)
mpi 4 "$sinter" run "$mlp" --threads 1 -D CKPT=four.ckpt -D RESUME=true >four-resumed.all 2>four-resumed.err
rc=$?
grep '^loss' four-resumed.all >four-resumed.out
check "mpi_resume: 4 ranks resume it (exit $rc), rank 0 alone printing its 50 losses" \
	test $rc = 0 -a "$(wc -l <four-resumed.out)" = 50
check "mpi_resume: 2 ranks then 4: steps 51..100 as the uninterrupted run ($(numdiff --rtol 1e-6 --atol 0 \
	--count 50 want.out four-resumed.out 2>&1 | tail -1))" agree --rtol 1e-6 --atol 0 --count 50 want.out four-resumed.out

# from 1 to 2 ranks
"$sinter" run "$mlp" --threads 1 -D STEPS=50 -D CKPT=one.ckpt >one.out 2>one.err
mpi 2 "$sinter" run "$mlp" --threads 1 -D CKPT=one.ckpt -D RESUME=true \
	>two-resumed.all 2>two-resumed.err
grep '^loss' two-resumed.all >two-resumed.out
check "mpi_resume: 2 ranks resume one process's checkpoint (exit $?)" test -s two-resumed.out
check "mpi_resume: 1 then 2 ranks: steps 51..100 as the uninterrupted run ($(numdiff --rtol 1e-6 --atol 0 \
	--count 50 want.out two-resumed.out 2>&1 | tail -1))" agree --rtol 1e-6 --atol 0 --count 50 want.out two-resumed.out
check "mpi_resume: the 2 ranks' checkpoint at step 100 leaves no temporary file" \
	test "$(ls | grep -c '^one\.ckpt')" = 1
