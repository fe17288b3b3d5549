#!/usr/bin/env bash
# bench/conv_step.sh — the training steps of the convolutional examples,
# LeNet-5 (examples/lenet.sn) and ResNet-8 (examples/resnet.sn), sinter
# against PyTorch on the same CPU, in one run.
#
# Each network is trained STEPS steps at batch 64 with AdamW (lr 1e-3,
# weight decay 0.01) on Fashion-MNIST, with 1 and 2 threads: sinter runs
# the example itself (-D EPOCHS=1 -D STEPS=... -D SHUFFLE=false -D TEST=500
# -D SAVE=), PyTorch the same networks from torch.nn
# (bench/torch_conv_step.py: the same data held in memory as f32, the same
# batches, the same 500-image evaluation at the end).  Reported per
# network and thread count (bench/conv_report.py):
#   - the time per step: differences of consecutive "time" fields of the
#     run logs, median after the warm-up per run, median over REPEATS runs;
#   - the peak RSS of each process (/usr/bin/time -f %M), median over runs;
#   - the GFLOP of the step's GEMMs (the convolutions as runtime/conv.c
#     calls cblas_sgemm, per image, and the Linear layers) and the floor:
#     cblas_sgemm alone on those products, timed once per round.
# Runs are interleaved (who goes first alternates) because the machine is
# small, shared and noisy.  Writes the tables, with the date, the command,
# the CPU, the load and the commit, to bench/conv_results.md.
#
# Usage (needs ./sinter built):
#   bench/conv_step.sh [SINTER_FLAGS...]
#   REPEATS=3 STEPS=30 NETS="lenet resnet" THREADS="1 2" bench/conv_step.sh
#   make bench-conv
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-3}
STEPS=${STEPS:-30}
NETS=${NETS:-lenet resnet}
THREADS=${THREADS:-1 2}
SGEMM_REPS=${SGEMM_REPS:-5}
SINTER=${SINTER:-./sinter}
PY=/usr/bin/python3
TIME=/usr/bin/time
. bench/benchlib.sh
start=$(date +%s)

[ "$STEPS" -ge 7 ] || die "STEPS=$STEPS: need at least 7 (5 warm-up steps and 2 timed ones)"
"$PY" -c 'import torch' 2>/dev/null || die "$PY cannot import torch (Debian package python3-torch)"
bench_need_time
bench_snapshot "$SINTER"
bench_env OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS OPENBLAS_THREAD_TIMEOUT OMP_NUM_THREADS OMP_WAIT_POLICY
SINTER_FLAGS=("$@")

# run_one IMPL NET THREADS REP: one run, its log and peak RSS in $work
run_one() {
	local impl=$1 net=$2 t=$3 rep=$4
	local base=$work/${net}_t${t}_${impl}_r${rep} t0=$SECONDS
	if [ "$impl" = sinter ]; then
		"$TIME" -f %M -o "$base.rss" "$work/sinter" run "examples/$net.sn" --threads "$t" --log "$base.jsonl" \
			-D EPOCHS=1 -D STEPS="$STEPS" -D SHUFFLE=false -D TEST=500 -D SAVE= "${SINTER_FLAGS[@]}" \
			>"$base.out" 2>&1 || { tail -20 "$base.out" >&2; die "sinter failed on $net (threads $t)"; }
	else
		"$TIME" -f %M -o "$base.rss" "$PY" bench/torch_conv_step.py --net "$net" --steps "$STEPS" \
			--threads "$t" --log "$base.jsonl" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "torch_conv_step.py failed on $net (threads $t)"; }
	fi
	printf '  %-6s %-6s threads %s: %3ds\n' "$impl" "$net" "$t" $((SECONDS - t0)) >&2
}

# floor REP: cblas_sgemm alone on the step's products, once per round
floor() {
	# shellcheck disable=SC2086 # THREADS is a list
	(cd bench && "$PY" conv_report.py sgemm "$SGEMM_REPS" -- $THREADS) >"$work/sgemm_r$1.json"
}
bench_rounds "$NETS" "$THREADS"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
bench_facts "$work"
tables=$(cd bench && "$PY" conv_report.py report "$work" "$STEPS")
mode=${SINTER_FLAGS[*]:-}
# the sections written by hand below the generated part (from the first
# "## " heading on) stay, as bench/gemm.sh keeps its own
by_hand=$(sed -n '/^## /,$p' bench/conv_results.md 2>/dev/null || true)
{
	echo "# sinter vs PyTorch: convolutional training steps (examples/lenet.sn, examples/resnet.sn)"
	echo
	echo "- date: $(date '+%Y-%m-%d %H:%M %Z')"
	echo "- command: \`REPEATS=$REPEATS STEPS=$STEPS NETS=\"$NETS\" THREADS=\"$THREADS\" SGEMM_REPS=$SGEMM_REPS bench/conv_step.sh${mode:+ $mode}\`"
	echo "- sinter: $SINTER built $sinter_built; the checkout: commit $commit"
	echo "- torch: $torch_version (Debian), $PY; \`import torch\` alone: $torch_base MB peak RSS"
	echo "- CPU: $cpu_line"
	echo "- environment: $envline"
	echo "- load average (1, 5, 15 min) before the runs: $load_start; after them: $load_end"
	if awk -v a="${load_start%% *}" 'BEGIN { exit !(a > 0.5) }'; then
		echo
		echo "**The machine was busy with other work during this run: the numbers are noisy.**"
	fi
	echo
	echo "$tables"
	echo
	echo "Both sides hold the 60000 training images as f32 (188 MB) and evaluate 500 test images at the"
	echo "end; peak RSS is the whole process.  The floor bounds sinter's step as runtime/conv.c calls"
	echo "cblas_sgemm today (one call per image); PyTorch may call its GEMMs differently."
	if [ -n "$by_hand" ]; then
		echo
		echo "$by_hand"
	fi
} >bench/conv_results.md.tmp && mv bench/conv_results.md.tmp bench/conv_results.md
echo "$tables"
echo
echo "written to bench/conv_results.md ($(($(date +%s) - start)) s)"
