#!/usr/bin/env bash
# bench/docs_step.sh — real (non-padding) tokens per second of the GPT of
# examples/gpt_docs.sn on the fortunes as documents, packed against one
# document per row, in one run.
#
# Runs examples/gpt_docs.sn at T = 256 (C = 128, L = 2, H = 4, batch 8:
# the example's defaults) for STEPS steps with each strategy: "padded"
# (each fortune alone in its row, padded to T: the baseline), "greedy"
# and "best_fit", interleaved and repeated REPEATS times.  Per run: the
# median time per step (differences of consecutive "time" fields of the
# --log lines, the first WARM steps and the step that evaluates left out),
# the real positions per step (the example prints them: sum(segment >= 0)
# over the steps); real tokens/s is their ratio.  Reports the medians over
# the runs, the packing figures of pack_stats (rows, real fraction,
# documents cut) at T, and the speed-up of each strategy over "padded";
# writes the table to bench/docs_results.md.
#
# Usage: bench/docs_step.sh          (needs ./sinter: make)
#        REPEATS=1 STEPS=12 bench/docs_step.sh    a quick try
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-30}
WARM=${WARM:-3}
T=${T:-256}
THREADS=${THREADS:-2}
. bench/benchlib.sh
scratch
bench_snapshot
strategies="padded greedy best_fit"
for round in $(seq "$REPEATS"); do
	for s in $strategies; do
		"$sinter" run examples/gpt_docs.sn --threads "$THREADS" -D T="$T" -D STEPS="$STEPS" \
			-D EVAL_EVERY=100000 -D EVAL_BATCHES=1 -D SAMPLE=1 -D STRATEGY="$s" \
			--log "$work/$s.$round.jsonl" >"$work/$s.$round.out" 2>"$work/$s.$round.err" ||
			die "sinter failed ($s): $(head -2 "$work/$s.$round.err")"
	done
done
"$PY" - "$work" "$REPEATS" "$WARM" "$T" "$THREADS" "$STEPS" "$strategies" "$load_start" <<'PY' | tee bench/docs_results.md
import json, os, re, statistics, subprocess, sys, time
work, repeats, warm, T, threads, steps, strategies, load = sys.argv[1:9]
repeats, warm = int(repeats), int(warm)
rows = {}
for s in strategies.split():
    per, real, stats = [], [], None
    for r in range(1, repeats + 1):
        recs = [json.loads(l) for l in open(f"{work}/{s}.{r}.jsonl")]
        times = [x["time"] for x in recs if "loss" in x]
        dt = [b - a for a, b in zip(times, times[1:])][warm:]
        per.append(statistics.median(dt))
        out = open(f"{work}/{s}.{r}.out", errors="replace").read()
        real.append(float(re.search(r"real positions per step (\S+)", out).group(1)))
        m = re.search(r"packs the training ones into (\d+) rows, (\S+) of the positions real, (\d+) cut", out)
        stats = (int(m.group(1)), float(m.group(2)), int(m.group(3)))
    step = statistics.median(per)
    rows[s] = (step, statistics.median(real), stats, [round(p * 1000, 1) for p in per])
base = rows["padded"][1] / rows["padded"][0]
print("# Packed documents: real tokens per second (bench/docs_step.sh)\n")
print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; examples/gpt_docs.sn at T = {T}, batch 8, C = 128, "
      f"L = 2, H = 4 on the fortunes (training split, 13,695 documents); {steps} steps per run, {repeats} runs per "
      f"strategy interleaved, --threads {threads}; load average before: {load}.  One run of the script; "
      "medians of the per-step times (the first steps left out) and over the runs.\n")
print("| strategy | rows per pass | real positions (pass) | documents cut | real per step (of 2048) | ms/step | real tokens/s | vs padded |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for s in strategies.split():
    step, real, (nrows, frac, cut), per = rows[s]
    print(f"| {s} | {nrows} | {frac:.3f} | {cut} | {real:.0f} | {step * 1000:.1f} | {real / step:.0f} | "
          f"{real / step / base:.2f}x |")
print("\nms/step of each run: " + "; ".join(f"{s} {rows[s][3]}" for s in strategies.split()))
PY
