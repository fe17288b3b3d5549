#!/usr/bin/env bash
# bench/run.sh — sinter against PyTorch on the same CPU, in one run.
#
# Trains two MLPs on Fashion-MNIST with AdamW for a fixed number of steps,
# once in sinter (bench/mlp_s.sn, bench/mlp_l.sn) and once in PyTorch
# (bench/torch_mlp.py, Debian's /usr/bin/python3 with torch 1.13), with 1
# and 2 threads, and reports the median time per step, the peak RSS of each
# process, and for mlp_l the GEMM GFLOP/s achieved against cblas_sgemm alone
# on the step's GEMM shapes (bench/sgemm.c).  Runs are interleaved (sinter,
# torch, sinter, torch, ...; who goes first alternates per round) and
# repeated, and every number is a median, because the machine is small,
# shared and noisy.  Prints Markdown tables and writes them, with the date,
# the command, the CPU and the OpenBLAS kernel, to bench/results.md.
#
# Usage (from anywhere; needs ./sinter built, i.e. `make` first):
#   bench/run.sh [SINTER_FLAGS...]        flags go to every `sinter run`
#   bench/run.sh --interp                 the reference interpreter
#   REPEATS=5 STEPS_S=400 STEPS_L=60 THREADS="1 2" bench/run.sh
# A Makefile target would read:
#   bench: sinter
#   	bench/run.sh $(BENCH_FLAGS)          # make bench BENCH_FLAGS=--interp
#
# Needs: cc and libopenblas-dev, /usr/bin/python3 with torch and numpy
# (python3-torch, python3-numpy), GNU time at /usr/bin/time (package `time`,
# installed here through apt-get when missing and run as root), the Debian
# package dataset-fashion-mnist.  About 4 minutes with the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-5}
STEPS_S=${STEPS_S:-400}   # of 1875 batches in one epoch at batch 32
STEPS_L=${STEPS_L:-60}    # of 234 batches in one epoch at batch 256
THREADS=${THREADS:-1 2}
PY=/usr/bin/python3
TIME=/usr/bin/time
. bench/benchlib.sh
start=$(date +%s)

[ -x ./sinter ] || die "./sinter is missing; build it first (make)"
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] ||
	die "Fashion-MNIST is missing (Debian package dataset-fashion-mnist; make deps)"
"$PY" -c 'import torch, numpy' 2>/dev/null ||
	die "$PY cannot import torch and numpy (Debian packages python3-torch python3-numpy)"
bench_need_time

cc -std=c11 -Wall -Wextra -D_GNU_SOURCE -O2 -o bench/sgemm bench/sgemm.c -lopenblas

bench_snapshot
bench_env OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OPENBLAS_VERBOSE GOTO_NUM_THREADS \
	OMP_NUM_THREADS OMP_WAIT_POLICY

# run_one IMPL CFG THREADS REP: one training run, its log and peak RSS into
# $work/CFG_tTHREADS_IMPL_rREP.{jsonl,rss,out}.
run_one() {
	local impl=$1 cfg=$2 t=$3 rep=$4 steps
	local base=$work/${cfg}_t${t}_${impl}_r${rep}
	[ "$cfg" = s ] && steps=$STEPS_S || steps=$STEPS_L
	local t0=$SECONDS
	if [ "$impl" = sinter ]; then
		"$TIME" -f %M -o "$base.rss" "$work/sinter" run "bench/mlp_$cfg.sn" --threads "$t" \
			--log "$base.jsonl" -D "STEPS=$steps" "${SINTER_FLAGS[@]}" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "sinter failed on mlp_$cfg (threads $t)"; }
	else
		"$TIME" -f %M -o "$base.rss" "$PY" bench/torch_mlp.py --config "$cfg" --steps "$steps" \
			--threads "$t" --log "$base.jsonl" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "torch_mlp.py failed on mlp_$cfg (threads $t)"; }
	fi
	printf '  %-6s mlp_%s threads %s: %3ds\n' "$impl" "$cfg" "$t" $((SECONDS - t0)) >&2
}

SINTER_FLAGS=("$@")
for ((rep = 1; rep <= REPEATS; rep++)); do
	echo "round $rep/$REPEATS" >&2
	# shellcheck disable=SC2086 # THREADS is a list
	bench/sgemm 20 $THREADS >"$work/sgemm_r$rep.txt"
	for cfg in s l; do
		for t in $THREADS; do
			if ((rep % 2)); then
				run_one sinter $cfg "$t" $rep
				run_one torch $cfg "$t" $rep
			else
				run_one torch $cfg "$t" $rep
				run_one sinter $cfg "$t" $rep
			fi
		done
	done
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# What torch costs before it trains (the interpreter and its libraries), the CPU, the checkout.
bench_facts "$work"

tables=$("$PY" bench/report.py "$work" s="$STEPS_S" l="$STEPS_L")
blas=$(sed -n 's/^openblas: //p' "$work/sgemm_r1.txt")
torch_blas=$(cat "$work"/l_t*_torch_r1.out | grep -o 'threads torch=.*' | paste -sd';' | sed 's/;/; /g')
mode=${SINTER_FLAGS[*]:-}

{
	echo "# sinter vs PyTorch: MLP training on Fashion-MNIST"
	echo
	echo "- date: $(date '+%Y-%m-%d %H:%M %Z')"
	echo "- command: \`REPEATS=$REPEATS STEPS_S=$STEPS_S STEPS_L=$STEPS_L THREADS=\"$THREADS\" bench/run.sh${mode:+ $mode}\`"
	echo "- sinter: commit $commit, binary built $sinter_built; \`sinter run\` flags: ${mode:-none (the default backend)}"
	echo "- torch: $torch_version (Debian), $PY; $torch_blas"
	echo "- CPU: $cpu_line"
	echo "- OpenBLAS: $blas"
	echo "- environment: $envline"
	echo "- load average (1, 5, 15 min) before the runs: $load_start; after them (the benchmark adds up to 2): $load_end"
	if awk -v a="${load_start%% *}" 'BEGIN { exit !(a > 0.5) }'; then
		echo
		echo "**The machine was busy with other work during this run: the numbers are noisy (see the"
		echo "spread below), and a ratio of two numbers taken at different moments (e.g. a % of"
		echo "sgemm above 100) can be off; rerun on a quiet machine for firm figures.**"
	fi
	echo
	echo "$tables"
	echo
	echo "## How"
	echo
	echo "Both sides train the same model (ReLU MLP, cross-entropy, AdamW lr 1e-3, weight decay 0.01)"
	echo "on shuffled batches of the training set; the first step also loads data and compiles."
	echo "PyTorch gathers each batch from uint8 and converts it to float32 inside the timed step,"
	echo "as sinter does.  Both use the same OpenBLAS for GEMMs; torch_mlp.py sets"
	echo "torch.set_num_threads and the OpenBLAS threads to the same N, and OMP_WAIT_POLICY=PASSIVE"
	echo "unless set (spinning OpenMP workers otherwise compete with the OpenBLAS threads on 2 cores)."
	echo "Peak RSS is the whole process (/usr/bin/time %M); \`python3 -c 'import torch'\` alone takes"
	echo "$torch_base MB here.  bench/sgemm (OpenBLAS alone, one round, per shape):"
	echo
	echo '```'
	sed '1,2d' "$work/sgemm_r$REPEATS.txt"
	echo '```'
} >bench/results.md

echo "$tables"
echo
echo "written to bench/results.md ($(($(date +%s) - start)) s)"
