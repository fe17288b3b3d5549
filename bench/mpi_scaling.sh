#!/usr/bin/env bash
# bench/mpi_scaling.sh — data-parallel training on MPI, measured and modelled
# (issue 14).  On this machine:
#   - MPI_Allreduce of 4 B to 16 MB between 2 ranks (bench/mpi_allreduce.c,
#     built with mpicc), over shared memory (--mca btl self,vader) and over
#     TCP on the loopback (--mca btl self,tcp): a latency (the median of
#     the sizes up to 256 B) and a bandwidth (the best of the two largest
#     sizes, latency taken off);
#   - the step time of bench/mlp_l.sn (batch 256) and bench/gpt_step.sn
#     (batch 8) with 1 thread per rank: one process at the whole batch,
#     one at half of it (a rank's share), two independent processes at
#     half of it at once (a rank's share when two share the cores), and 2
#     ranks over each transport; the GPT on 2 ranks with buckets of 64K
#     to 1G (one per arena, no overlap), for --bucket-size's default;
#     (the median of consecutive "time" differences of rank 0's --log,
#     the first steps left out).
# Then bench/mpi_report.py models a ring all-reduce of the gradient arena
# (2 (N-1)/N bytes / bandwidth + 2 (N-1) latencies) and predicts the step
# on 2 ranks here (the half-batch compute of the pair of processes plus
# the all-reduce, no overlap) against the measured one, and the scaling efficiency for N = 2
# ... 64 ranks on a 25 Gb/s network (each rank keeping the whole batch,
# as DDP users scale out).  Writes bench/mpi_results.md and
# bench/mpi_scaling.svg (through sinter plot).
#
# Usage: bench/mpi_scaling.sh   (needs ./sinter built and Open MPI: make deps)
#        STEPS=40 REPS=50 bench/mpi_scaling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/benchlib.sh
STEPS=${STEPS:-25}
REPS=${REPS:-30}
command -v mpicc >/dev/null || die "mpicc is missing (make deps installs libopenmpi-dev)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
bench_snapshot
mpicc -O2 -Wall -Wextra -o "$work/allreduce" bench/mpi_allreduce.c
for btl in vader tcp; do
	mpirun --oversubscribe -np 2 --mca btl "self,$btl" "$work/allreduce" "$REPS" >"$work/allreduce_$btl.txt"
done

CONTEXT=128
bench_tokens "$work/tokens.bin" $((STEPS * 8 + CONTEXT))
step() { # name, ranks, btl, program, options...
	local name=$1 n=$2 btl=$3 prog=$4
	shift 4
	(cd "$work" && mpirun --oversubscribe -np "$n" --mca btl "self,$btl" ./sinter run "$root/$prog" --threads 1 \
		--log "$work/$name.jsonl" "$@") >"$work/$name.out" 2>&1 || die "$name failed: $(tail -3 "$work/$name.out")"
}
# two independent processes at once, each at half the batch: the compute of
# a rank when two share this machine's cores
pair() { # name, program, options...
	local name=$1 prog=$2
	shift 2
	(cd "$work" && { ./sinter run "$root/$prog" --threads 1 --log "$work/$name.jsonl" "$@" >"$work/$name.out" 2>&1 &
		./sinter run "$root/$prog" --threads 1 --log "$work/$name.b.jsonl" "$@" >"$work/$name.b.out" 2>&1
		wait; }) || die "$name failed: $(tail -3 "$work/$name.out")"
}
step mlp_l.1 1 vader bench/mlp_l.sn -D STEPS="$STEPS"
step mlp_l.half 1 vader bench/mlp_l.sn -D STEPS="$STEPS" -D BATCH=128
pair mlp_l.pair bench/mlp_l.sn -D STEPS="$STEPS" -D BATCH=128
step mlp_l.2.vader 2 vader bench/mlp_l.sn -D STEPS="$STEPS"
step mlp_l.2.tcp 2 tcp bench/mlp_l.sn -D STEPS="$STEPS"
gpt=(-D STEPS="$STEPS" -D TOKENS="$work/tokens.bin")
step gpt.1 1 vader bench/gpt_step.sn "${gpt[@]}"
step gpt.half 1 vader bench/gpt_step.sn "${gpt[@]}" -D BATCH=4
pair gpt.pair bench/gpt_step.sn "${gpt[@]}" -D BATCH=4
step gpt.2.vader 2 vader bench/gpt_step.sn "${gpt[@]}"
step gpt.2.tcp 2 tcp bench/gpt_step.sn "${gpt[@]}"
# the bucket size (--bucket-size; 1G: one bucket per arena, sent at the update)
for b in 64K 256K 1M 4M 1G; do
	step "gpt.bucket.$b" 2 vader bench/gpt_step.sn "${gpt[@]}" --bucket-size "$b"
done
# the bytes every step sends: the gradient arenas of the step region
for m in "mlp_l bench/mlp_l.sn" "gpt bench/gpt_step.sn -D TOKENS=$work/tokens.bin"; do
	read -r name prog opts <<<"$m"
	# shellcheck disable=SC2086 # opts: words
	"$work/sinter" plan "$prog" $opts \
		| awk '$1 == "gradient" && $2 == "arena" { s += $3 } END { print s + 0 }' >"$work/$name.arena"
done
"$PY" bench/mpi_report.py "$work" "$(cut -d' ' -f1-3 /proc/loadavg)" "$load_start" >bench/mpi_results.md
"$work/sinter" plot "$work/efficiency.jsonl" -o bench/mpi_scaling.svg
cat bench/mpi_results.md
