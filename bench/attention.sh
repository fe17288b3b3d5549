#!/usr/bin/env bash
# bench/attention.sh — the fused attention op (attention(), one forward and
# one backward kernel, runtime/attention.c) against the formula written out
# (scores GEMM, scale, a bool mask, softmax, GEMM with v: what
# CausalSelfAttention ran before the op existed), forward and backward
# together, in one run.
#
# Times tests/e2e/attention.sn (q, k, v parameters, loss sum(y * w), an SGD
# at lr 0) for STEPS steps per run in each MODE, interleaved and repeated
# REPEATS times; a run's figure is the median of its per-step times (the
# "time" differences of its --log, the first WARM left out), the report
# the median over runs and fused / unfused.  Wall times are noise on a
# loaded machine, so each run also has a twin of WARM steps, and the CPU
# time of a step is the difference of the two runs' user + system time
# over the difference of steps (start-up and compilation left out, as
# bench/gemm_cpu.sh does); medians over the rounds likewise.  The long
# run is also profiled (--profile-summary): the mean wall time per step
# of the attention's own kernels (the fused ops, or the written-out GEMMs
# with their fused softmax, mask and transposes) in the loop's region,
# without the harness's other kernels (the update, the loss, the slices
# and packing of the fused op's stacked gradients).  Shapes: the GPT step's
# attention (bench/gpt_step.sn: B 8, H 4, T 128, D 64, causal), and that
# of examples/gpt_docs.sn at T = 256 (B 8, H 4, D 32) dense causal and with
# packed segments (documents of 40-133 positions, ids rising along each
# row).  Writes the table to bench/attention_results.md.
#
# Usage: bench/attention.sh            (needs ./sinter: make)
#        REPEATS=1 STEPS=10 THREADS=2 bench/attention.sh
#        GEMM=openblas bench/attention.sh   (--gemm for both modes: auto)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-200}
WARM=${WARM:-5}
THREADS=${THREADS:-1}
GEMM=${GEMM:-auto}
TIME=/usr/bin/time
. bench/benchlib.sh
scratch
bench_need_time
bench_snapshot
configs="gpt:-D B=8 -D H=4 -D T=128 -D D=64
docs_dense:-D B=8 -D H=4 -D T=256 -D D=32
docs_packed:-D B=8 -D H=4 -D T=256 -D D=32 -D SEGMENT=true -D DOC=400"
for round in $(seq "$REPEATS"); do
	while IFS=: read -r name defs; do
		order="fused unfused"
		[ $((round % 2)) -eq 0 ] && order="unfused fused"
		for mode in $order; do
			mkdir -p "$work/$name.$mode.$round"
			for steps in "$STEPS" "$WARM"; do
				prof=()
				[ "$steps" = "$STEPS" ] && prof=(--profile-summary)
				# shellcheck disable=SC2086 # defs are words
				"$TIME" -f '%U %S' -o "$work/$name.$mode.$round.cpu$steps" \
					"$sinter" run tests/e2e/attention.sn $defs -D MODE="$mode" -D STEPS="$steps" --threads "$THREADS" \
					--gemm="$GEMM" -D OUT="$work/$name.$mode.$round" --log "$work/$name.$mode.$round.jsonl$steps" \
					"${prof[@]}" >"$work/$name.$mode.$round.out$steps" 2>&1 ||
					die "sinter failed ($name $mode): $(head -2 "$work/$name.$mode.$round.out$steps")"
			done
		done
	done <<<"$configs"
done
out=bench/attention_results.md
[ "$GEMM" = auto ] || out=bench/attention_results_$GEMM.md
"$PY" - "$work" "$REPEATS" "$WARM" "$THREADS" "$STEPS" "$load_start" "$configs" "$GEMM" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY' | tee "$out"
import json, re, statistics, sys, time
work, repeats, warm, threads, steps, load, configs, gemm, load_end = sys.argv[1:10]
repeats, warm, steps = int(repeats), int(warm), int(steps)
def cpu(path):
    user, sys_ = open(path).read().split()[-2:]
    return float(user) + float(sys_)


def kernels(path, steps):
    """ms per step of the attention's kernels in the loop's region (the
    profile's kernels with at least steps / 2 calls), from the mean column"""
    ms = 0.0
    for line in open(path):
        w = line.split()
        if len(w) > 8 and w[-7].isdigit() and int(w[-7]) >= steps // 2 and \
                re.search(r"attention|gemm|transpose|tril| gt ", line):
            ms += float(w[-5])
    return ms


print("# Fused attention against the formula written out (bench/attention.sh)\n")
print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; forward and backward of one attention per step "
      f"(tests/e2e/attention.sn), --gemm={gemm}, {steps} steps per run, {repeats} runs per mode interleaved, "
      f"--threads {threads}; load average before: {load}, after: {load_end}.  Wall: medians of the per-step times "
      f"(the first {warm} left out), then over the runs.  CPU: (user + system of the run) - (that of a run of "
      f"{warm} steps), over {steps - warm} steps; medians over the runs.  Kernels: the attention's own kernels "
      f"in the profile of the long run (mean wall ms per step; median over the runs).\n")
print("| shape | B, H, T, D | fused CPU ms | unfused CPU ms | fused / unfused CPU | fused wall ms | unfused wall ms "
      "| fused / unfused wall | fused kernels ms | unfused kernels ms | fused / unfused kernels "
      "| runs fused CPU | runs unfused CPU |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
for line in configs.splitlines():
    name, defs = line.split(":", 1)
    wall, cpus, kern = {}, {}, {}
    for mode in ("fused", "unfused"):
        per, pc, pk = [], [], []
        for r in range(1, repeats + 1):
            base = f"{work}/{name}.{mode}.{r}"
            t = [json.loads(l)["time"] for l in open(f"{base}.jsonl{steps}")]
            d = [b - a for a, b in zip(t, t[1:])][warm:]
            per.append(statistics.median(d) * 1000)
            pc.append((cpu(f"{base}.cpu{steps}") - cpu(f"{base}.cpu{warm}")) / (steps - warm) * 1000)
            pk.append(kernels(f"{base}.out{steps}", steps))
        wall[mode] = statistics.median(per)
        kern[mode] = statistics.median(pk)
        cpus[mode] = (statistics.median(pc), [round(p, 2) for p in pc])
    shape = ", ".join(w.split("=")[1] for w in defs.split() if "=" in w and w.split("=")[0] in "BHTD")
    print(f"| {name} | {shape} | {cpus['fused'][0]:.2f} | {cpus['unfused'][0]:.2f} | "
          f"{cpus['fused'][0] / cpus['unfused'][0]:.2f} | {wall['fused']:.2f} | {wall['unfused']:.2f} | "
          f"{wall['fused'] / wall['unfused']:.2f} | {kern['fused']:.2f} | {kern['unfused']:.2f} | "
          f"{kern['fused'] / kern['unfused']:.2f} | {cpus['fused'][1]} | {cpus['unfused'][1]} |")
PY
