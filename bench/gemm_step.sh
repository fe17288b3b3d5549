#!/usr/bin/env bash
# bench/gemm_step.sh — whole training steps with each `--gemm=` choice:
# the GPT step of bench/gpt_step.sn (V = 65) and the mlp_l step of
# bench/mlp_l.sn, each run by sinter with --gemm=openblas, --gemm=sinter
# and --gemm=auto and by PyTorch (bench/torch_gpt_step.py,
# bench/torch_mlp.py) in the same rounds, with 1 and 2 threads.
#
# Per configuration: ms per step (the differences of consecutive "time"
# fields of the --log JSON lines after the warm-up, bench/benchlib.py, then
# the median over REPEATS rounds), the ratio to PyTorch's median of the
# same rounds, and the speed-up of each choice over --gemm=openblas.  The
# order of the four runs rotates from round to round, since the machine is
# shared and its load drifts.  Prints a Markdown table with the date, the
# load average and the command; bench/gemm_results.md keeps the figures.
#
# Usage (needs ./sinter built):
#   bench/gemm_step.sh                         REPEATS=3, GPT 20 steps, mlp_l 40
#   REPEATS=5 STEPS_GPT=30 STEPS_L=60 THREADS="1 2" bench/gemm_step.sh
# Needs /usr/bin/python3 with torch and numpy, GNU time, Fashion-MNIST.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-3}
STEPS_GPT=${STEPS_GPT:-20}
STEPS_L=${STEPS_L:-40}
THREADS=${THREADS:-1 2}
V=65
PY=/usr/bin/python3
TIME=/usr/bin/time
. bench/benchlib.sh

"$PY" -c 'import torch, numpy' 2>/dev/null || die "$PY cannot import torch and numpy"
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || die "Fashion-MNIST is missing (make deps)"
bench_need_time
bench_snapshot
bench_env OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OPENBLAS_THREAD_TIMEOUT

# the token file of gpt_step.sn: STEPS_GPT batches of 8 windows of 128
bench_tokens "$work/tokens.bin" $((STEPS_GPT * 8 + 128)) "$V" $((1000003 + V))

# run_one MODEL IMPL THREADS REP: one run's log and peak RSS in $work
run_one() {
	local model=$1 impl=$2 t=$3 rep=$4
	local base=$work/${model}_t${t}_${impl}_r${rep}
	local -a cmd
	case $model/$impl in
	gpt/torch) cmd=("$PY" bench/torch_gpt_step.py --vocab "$V" --steps "$STEPS_GPT" --threads "$t" --seed 1) ;;
	mlp/torch) cmd=("$PY" bench/torch_mlp.py --config l --steps "$STEPS_L" --threads "$t") ;;
	gpt/*) cmd=("$work/sinter" run bench/gpt_step.sn --threads "$t" --gemm="$impl" -D "V=$V"
		-D "STEPS=$STEPS_GPT" -D "TOKENS=$work/tokens.bin") ;;
	mlp/*) cmd=("$work/sinter" run bench/mlp_l.sn --threads "$t" --gemm="$impl" -D "STEPS=$STEPS_L") ;;
	esac
	"$TIME" -f %M -o "$base.rss" "${cmd[@]}" --log "$base.jsonl" >"$base.out" 2>&1 ||
		{ tail -20 "$base.out" >&2; die "$model $impl failed (threads $t)"; }
}

impls=(openblas sinter auto torch)
for ((rep = 1; rep <= REPEATS; rep++)); do
	echo "round $rep/$REPEATS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
	for model in gpt mlp; do
		for t in $THREADS; do
			for ((i = 0; i < 4; i++)); do
				run_one $model "${impls[$(((i + rep) % 4))]}" "$t" "$rep"
			done
		done
	done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

echo "bench/gemm_step.sh (REPEATS=$REPEATS STEPS_GPT=$STEPS_GPT STEPS_L=$STEPS_L THREADS=\"$THREADS\"),"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null),"
echo "load average before $load_start, after $load_end; $envline"
echo
"$PY" - "$work" "$STEPS_GPT" "$STEPS_L" "$THREADS" <<'EOF'
import glob, os, sys
sys.path.insert(0, "bench")
from benchlib import summarize
work, steps = sys.argv[1], {"gpt": int(sys.argv[2]), "mlp": int(sys.argv[3])}
print("| step | threads | --gemm | ms/step (median) | min-max | vs PyTorch | vs openblas |")
print("| --- | ---: | --- | ---: | --- | ---: | ---: |")
for model, name in (("gpt", "GPT, V = 65"), ("mlp", "mlp_l")):
    for t in sys.argv[4].split():
        s = {i: summarize(sorted(glob.glob(f"{work}/{model}_t{t}_{i}_r*.jsonl")), steps[model])
             for i in ("openblas", "sinter", "auto", "torch")}
        for i in ("openblas", "sinter", "auto", "torch"):
            r = s[i]
            print(f"| {name} | {t} | {i if i != 'torch' else '(PyTorch)'} | {r['ms']:.1f} | "
                  f"{r['min']:.1f}-{r['max']:.1f} | {r['ms'] / s['torch']['ms']:.2f} | "
                  f"{s['openblas']['ms'] / r['ms']:.2f}x |")
EOF
