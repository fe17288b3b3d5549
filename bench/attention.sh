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
# the median over runs and fused / unfused.  Shapes: the GPT step's
# attention (bench/gpt_step.sn: B 8, H 4, T 128, D 64, causal), and that
# of examples/gpt_docs.sn at T = 256 (B 8, H 4, D 32) dense causal and with
# packed segments (documents of 40-133 positions, ids rising along each
# row).  Writes the table to bench/attention_results.md.
#
# Usage: bench/attention.sh            (needs ./sinter: make)
#        REPEATS=1 STEPS=10 THREADS=2 bench/attention.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-30}
WARM=${WARM:-5}
THREADS=${THREADS:-1}
. bench/benchlib.sh
scratch
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
			# shellcheck disable=SC2086 # defs are words
			"$sinter" run tests/e2e/attention.sn $defs -D MODE="$mode" -D STEPS="$STEPS" --threads "$THREADS" \
				-D OUT="$work/$name.$mode.$round" --log "$work/$name.$mode.$round.jsonl" \
				>"$work/$name.$mode.$round.out" 2>&1 || die "sinter failed ($name $mode): $(head -2 "$work/$name.$mode.$round.out")"
		done
	done <<<"$configs"
done
"$PY" - "$work" "$REPEATS" "$WARM" "$THREADS" "$STEPS" "$load_start" "$configs" <<'PY' | tee bench/attention_results.md
import json, statistics, sys, time
work, repeats, warm, threads, steps, load, configs = sys.argv[1:8]
repeats, warm = int(repeats), int(warm)
print("# Fused attention against the formula written out (bench/attention.sh)\n")
print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; forward and backward of one attention per step "
      f"(tests/e2e/attention.sn), {steps} steps per run, {repeats} runs per mode interleaved, --threads {threads}; "
      f"load average before: {load}.  Medians of the per-step times (the first {warm} left out), then over the runs.\n")
print("| shape | B, H, T, D | fused ms | unfused ms | fused / unfused | runs fused | runs unfused |")
print("| --- | --- | ---: | ---: | ---: | --- | --- |")
for line in configs.splitlines():
    name, defs = line.split(":", 1)
    med = {}
    for mode in ("fused", "unfused"):
        per = []
        for r in range(1, repeats + 1):
            t = [json.loads(l)["time"] for l in open(f"{work}/{name}.{mode}.{r}.jsonl")]
            d = [b - a for a, b in zip(t, t[1:])][warm:]
            per.append(statistics.median(d) * 1000)
        med[mode] = (statistics.median(per), [round(p, 2) for p in per])
    shape = ", ".join(w.split("=")[1] for w in defs.split() if "=" in w and w.split("=")[0] in "BHTD")
    print(f"| {name} | {shape} | {med['fused'][0]:.2f} | {med['unfused'][0]:.2f} | "
          f"{med['fused'][0] / med['unfused'][0]:.2f} | {med['fused'][1]} | {med['unfused'][1]} |")
PY
