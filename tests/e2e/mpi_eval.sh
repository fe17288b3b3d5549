#!/usr/bin/env bash
# tests/e2e/mpi_eval.sh — sharded evaluation (issue 14): tests/e2e/mpi_eval.sn
# trains 20 steps, then each rank scores its part of the test set
# (batches(..., shard = true)) and all_reduce combines the counts and sums.
# On 2 and 4 ranks (batch 64), and on 3 (batch 63, whose parts are 3333
# and 3334 examples), against one process with the same batch: the same
# accuracy exactly, the loss within 1e-6 relative, every example scored
# once (the parts' sizes, max and min), rank 0 alone printing what
# world_size() and rank() say.  Skips every check, saying so, only when
# mpirun is missing.
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$root/tests/lib/mpi.sh"
mpi_setup mpi_eval 13
sinter=$root/sinter
prog=$root/tests/e2e/mpi_eval.sn

field() { awk -v k="$2" '$1 == k { print $'"$3"' }' "$1"; }
for batch in 64 63; do
	"$sinter" run "$prog" --threads 1 -D BATCH=$batch >one.$batch 2>one.$batch.err ||
		fail "mpi_eval: one process (batch $batch) fails: $(head -3 one.$batch.err)"
done
for n in 2 4 3; do
	batch=64
	[ $n = 3 ] && batch=63
	mpi $n "$sinter" run "$prog" --threads 1 -D BATCH=$batch >ranks.$n 2>ranks.$n.err
	rc=$?
	check "mpi_eval $n ranks: exit $rc, rank 0 alone prints its 5 lines, 'ranks $n rank 0'" \
		test $rc = 0 -a "$(wc -l <ranks.$n)" = 5 -a "$(head -1 ranks.$n)" = "ranks $n rank 0"
	check "mpi_eval $n ranks: the accuracy of one process, exactly ($(field ranks.$n accuracy 2) and $(field one.$batch accuracy 2))" \
		test -n "$(field ranks.$n accuracy 2)" -a "$(field ranks.$n accuracy 2)" = "$(field one.$batch accuracy 2)"
	grep '^loss' one.$batch >want.loss
	grep '^loss' ranks.$n >got.loss
	check "mpi_eval $n ranks: the loss and the mean of means of one process within 1e-6 ($(numdiff --rtol 1e-6 \
		--atol 0 --count 1 want.loss got.loss 2>&1 | tail -1))" agree --rtol 1e-6 --atol 0 --count 1 want.loss got.loss
	lo=$((10000 / n)) hi=$(((10000 + n - 1) / n))
	check "mpi_eval $n ranks: 10000 examples scored once, $hi at most and $lo at least on one rank ($(grep '^examples' ranks.$n))" \
		test "$(grep '^examples' ranks.$n)" = "examples 10000 most on one rank $hi fewest $lo"
done
check "mpi_eval one process: every example scored, world_size() 1, rank() 0" \
	test "$(grep '^examples' one.64)" = "examples 10000 most on one rank 10000 fewest 10000" -a \
	"$(head -1 one.64)" = "ranks 1 rank 0"
