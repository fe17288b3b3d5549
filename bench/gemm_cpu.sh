#!/usr/bin/env bash
# bench/gemm_cpu.sh — CPU time per training step with each `--gemm=`
# choice, 1 thread: bench/gemm_step.sh's runs (the GPT step of gpt_step.sn,
# V = 65, and mlp_l), for a machine so loaded that wall times are noise.
# Each configuration runs twice, STEPS_A and STEPS_B steps, and a step's
# CPU time is the difference of the two runs' user + system time over the
# difference of steps, which leaves out start-up, data loading and
# compilation (PyTorch: its imports).  Medians over REPEATS rounds, the
# four runs of a round in a rotating order.  Other processes still share
# the caches, so this is a fair comparison of the four, not a clean figure.
#
# mlp_l's steps are short, so its runs are longer (STEPS_LA, STEPS_LB).
#
# Usage: bench/gemm_cpu.sh       REPEATS=3 STEPS_A=6 STEPS_B=16 bench/gemm_cpu.sh
#        MODELS=mlp STEPS_LA=10 STEPS_LB=110 bench/gemm_cpu.sh
#
# MODELS may also name the convolutional examples, resnet and lenet
# (examples/*.sn against bench/torch_conv_step.py, batch 64, AdamW, as
# bench/conv_step.sh runs them; STEPS_CA and STEPS_CB steps), and THREADS
# sets their threads (default 1; CPU time then sums the threads).
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-2}
STEPS_A=${STEPS_A:-6}
STEPS_B=${STEPS_B:-16}
STEPS_LA=${STEPS_LA:-10}
STEPS_LB=${STEPS_LB:-110}
MODELS=${MODELS:-gpt mlp}
STEPS_CA=${STEPS_CA:-10}
STEPS_CB=${STEPS_CB:-30}
THREADS=${THREADS:-1}
V=65
PY=/usr/bin/python3
TIME=/usr/bin/time
. bench/benchlib.sh
bench_need_time
bench_snapshot
bench_tokens "$work/tokens.bin" $((STEPS_B * 8 + 128)) "$V" $((1000003 + V))

# cpu MODEL IMPL STEPS: user + system seconds of one run
cpu() {
	local -a cmd
	case $1/$2 in
	gpt/torch) cmd=("$PY" bench/torch_gpt_step.py --vocab "$V" --steps "$3" --threads 1 --seed 1) ;;
	mlp/torch) cmd=("$PY" bench/torch_mlp.py --config l --steps "$3" --threads 1) ;;
	gpt/*) cmd=("$work/sinter" run bench/gpt_step.sn --threads 1 --gemm="$2" -D "V=$V" -D "STEPS=$3"
		-D "TOKENS=$work/tokens.bin") ;;
	mlp/*) cmd=("$work/sinter" run bench/mlp_l.sn --threads 1 --gemm="$2" -D "STEPS=$3") ;;
	resnet/torch | lenet/torch) cmd=("$PY" bench/torch_conv_step.py --net "$1" --steps "$3" --threads "$THREADS") ;;
	resnet/* | lenet/*) cmd=("$work/sinter" run "examples/$1.sn" --threads "$THREADS" --gemm="$2" -D EPOCHS=1
		-D "STEPS=$3" -D SHUFFLE=false -D TEST=500 -D SAVE=) ;;
	esac
	"$TIME" -f '%U %S' -o "$work/t" "${cmd[@]}" >"$work/out" 2>&1 || { tail -5 "$work/out" >&2; die "$1 $2 failed"; }
	awk '{ print $1 + $2 }' "$work/t"
}

impls=(openblas sinter auto torch)
for ((rep = 1; rep <= REPEATS; rep++)); do
	echo "round $rep/$REPEATS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
	for model in $MODELS; do
		sa=$STEPS_A sb=$STEPS_B
		[ $model = mlp ] && sa=$STEPS_LA sb=$STEPS_LB
		[ $model = resnet ] || [ $model = lenet ] && sa=$STEPS_CA sb=$STEPS_CB
		for ((i = 0; i < 4; i++)); do
			impl=${impls[$(((i + rep) % 4))]}
			a=$(cpu $model "$impl" "$sa")
			b=$(cpu $model "$impl" "$sb")
			echo "$model $impl $(awk -v a="$a" -v b="$b" -v n=$((sb - sa)) 'BEGIN { print (b - a) / n * 1000 }')" \
				>>"$work/cpu.txt"
		done
	done
done
echo "bench/gemm_cpu.sh (REPEATS=$REPEATS MODELS=\"$MODELS\" STEPS_A=$STEPS_A STEPS_B=$STEPS_B STEPS_LA=$STEPS_LA STEPS_LB=$STEPS_LB STEPS_CA=$STEPS_CA STEPS_CB=$STEPS_CB), $THREADS thread(s),"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null), load average before $load_start,"
echo "after $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$PY" - "$work/cpu.txt" <<'EOF'
import statistics, sys
ms = {}
for line in open(sys.argv[1]):
    m, i, v = line.split()
    ms.setdefault((m, i), []).append(float(v))
print("| step | --gemm | CPU ms/step (median) | runs | vs PyTorch | vs openblas |")
print("| --- | --- | ---: | --- | ---: | ---: |")
for m, name in (("gpt", "GPT, V = 65"), ("mlp", "mlp_l"), ("resnet", "ResNet-8, batch 64"), ("lenet", "LeNet-5, batch 64")):
    if (m, "torch") not in ms:
        continue
    med = {i: statistics.median(ms[(m, i)]) for i in ("openblas", "sinter", "auto", "torch")}
    for i in ("openblas", "sinter", "auto", "torch"):
        runs = ", ".join("%.1f" % v for v in ms[(m, i)])
        print(f"| {name} | {i if i != 'torch' else '(PyTorch)'} | {med[i]:.1f} | {runs} | "
              f"{med[i] / med['torch']:.2f} | {med['openblas'] / med[i]:.2f}x |")
EOF
