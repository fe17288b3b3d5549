#!/usr/bin/env bash
# tests/e2e/mpi_train.sh — data-parallel training on 2 ranks (issue 14)
# against one process with the same global batches: the MLP's 100 losses
# within 1e-6 relative (JIT, interpreter, a built binary), the GPT's 20
# losses and gradient norms within 1e-5, the same parameter checksum on
# both ranks, rank 0 alone printing, a binary built with --ranks 2 running
# its steps natively; one rank under mpirun changes nothing.
# Refusals: a batch the ranks cannot share, accumulate, ranks started with
# different -D values, ranks whose parameters differ (the checksum guard at
# a checkpoint).  Skips every check, saying so, only when mpirun is missing
# (`make deps` installs Open MPI).
set -u
. "$(dirname "$0")/../lib/common.sh"
. "$root/tests/lib/mpi.sh"
mpi_setup mpi_train 17
sinter=$root/sinter
mlp=$root/tests/e2e/mpi_mlp.sn
gpt=$root/tests/e2e/mpi_gpt.sn

# one process and two ranks: the same numbers, one rank's stdout
compare() { # name, rtol, count, program, options...
	local name=$1 rtol=$2 count=$3 prog=$4
	shift 4
	"$sinter" run "$prog" --threads 1 "$@" >"$name.1" 2>"$name.1.err"
	mpi 2 "$sinter" run "$prog" --threads 1 --verbose "$@" >"$name.2" 2>"$name.2.err"
	local rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "mpi $name: 2 ranks exit $rc: $(grep -v '^sinter: gemm' "$name.2.err" | head -3)"
		return
	fi
	check "mpi $name: 2 ranks print $count lines, the losses of one process within $rtol ($(numdiff --rtol "$rtol" \
		--atol 0 --count "$count" "$name.1" "$name.2" 2>&1 | tail -1))" \
		agree --rtol "$rtol" --atol 0 --count "$count" "$name.1" "$name.2"
	local sums
	sums=$(grep 'parameter checksum' "$name.2.err" | awk '{print $NF}' | sort -u)
	check "mpi $name: both ranks end with the same parameters (checksum $sums)" \
		test "$(grep -c 'parameter checksum' "$name.2.err")" = 2 -a "$(echo "$sums" | wc -l)" = 1
}
compare mlp-jit 1e-6 100 "$mlp"
compare mlp-interp 1e-6 30 "$mlp" --interp -D STEPS=30
compare gpt 1e-5 20 "$gpt"

# a binary built for 2 ranks: the same as sinter run on 2 ranks, bit for bit
if "$sinter" build "$mlp" --ranks 2 -o mlp >build.out 2>&1; then
	mpi 2 ./mlp --threads 1 --verbose >bin.2 2>bin.2.err
	check "mpi built binary: 2 ranks print what sinter run prints on 2 ranks" cmp -s bin.2 mlp-jit.2
	# each rank traced the step of 32 rows that the build compiled for 2 ranks
	check "mpi built binary: no region runs on the interpreter (the ranks read 32 of the 64 rows)" \
		test "$(grep -c 'not compiled ahead of time' bin.2.err)" = 0 -a "$(grep -c 'parameter checksum' bin.2.err)" = 2
else
	fail "mpi built binary: sinter build fails: $(head -3 build.out)"
	fail "mpi built binary: not run"
fi

# one rank under mpirun is one process: the same output, bit for bit
mpi 1 "$sinter" run "$mlp" --threads 1 >one.out 2>one.err
check "mpi 1 rank: the output of a plain run, bit for bit" cmp -s one.out mlp-jit.1

# refusals: exit 1 with the message, on every rank, no hang
refuse() { # name, want (the first line of stderr), mpirun arguments...
	local name=$1 want=$2
	shift 2
	mpirun --oversubscribe "$@" >"$name.out" 2>"$name.err"
	local rc=$?
	check "mpi $name: exits non-zero ($rc)" test "$rc" -ne 0
	check "mpi $name: says '$want'" grep -qF -- "$want" "$name.err"
}
refuse odd-batch "mpi_mlp.sn:38:24: error: batch 0 has 63 rows, which 2 ranks cannot share equally: use a batch size that is a multiple of 2" \
	-np 2 "$sinter" run "$mlp" --threads 1 -D BATCH=63
refuse defines "error: the 2 ranks do not run the same program: their source files, -D options or --seed differ" \
	-np 1 "$sinter" run "$mlp" --threads 1 : -np 1 "$sinter" run "$mlp" --threads 1 -D STEPS=99
# two ranks that load different weights (each its own working directory)
# run the same program; the guard stops them at the first checkpoint
mkdir a b
"$sinter" run "$mlp" -D STEPS=0 -D SAVE=a/w.safetensors >/dev/null 2>&1
"$sinter" run "$mlp" -D STEPS=0 -D SAVE=b/w.safetensors --seed 1 >/dev/null 2>&1
guard=(run "$mlp" --threads 1 -D LOAD=w.safetensors -D CKPT=c.ckpt)
refuse guard "mpi_mlp.sn:42:21: error: the parameters of the 2 ranks differ after step 1: the ranks no longer train the same model; stopping" \
	-np 1 -wdir "$tmp/a" "$sinter" "${guard[@]}" : -np 1 -wdir "$tmp/b" "$sinter" "${guard[@]}"
refuse accumulate "error: accumulate cannot be combined with training on 2 ranks yet" \
	-np 2 "$sinter" run "$root/tests/e2e/accumulate.sn" --threads 1 -D ACC=4 -D BATCH=16
