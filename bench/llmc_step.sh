#!/usr/bin/env bash
# bench/llmc_step.sh — the GPT training step of bench/gpt_step.sn, sinter
# against llm.c's CPU reference trainer (karpathy/llm.c, train_gpt2.c) on
# the same shapes (T = 128, C = 256, L = 4, H = 4, batch 8, V = 65, AdamW),
# with 1 and 2 threads, in one run.
#
# llm.c is not shipped with sinter and there is no Debian package of it:
# LLMC_DIR names a checkout (its train_gpt2.c and llmc/ folder are used as
# they are).  bench/llmc_step.c is compiled against it the way llm.c's
# Makefile builds train_gpt2 (gcc -Ofast -march=native -fopenmp -DOMP), with
# train_gpt2.c's main left out; it writes an llm.c checkpoint with GPT-2's
# initialization and an unpadded vocabulary, and logs each step as sinter's
# --log does.  llm.c gets its threads from OMP_NUM_THREADS; sinter from
# --threads.  Runs are interleaved (who goes first alternates), REPEATS
# rounds; per run the median step after the warm-up, then the median over
# runs (bench/benchlib.py, as bench/gpt_step.sh).  Writes
# bench/llmc_results.md.
#
# Usage: LLMC_DIR=~/llm.c bench/llmc_step.sh
#        REPEATS=5 STEPS=40 THREADS="1 2" LLMC_DIR=... bench/llmc_step.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-30}
THREADS=${THREADS:-1 2}
SINTER=${SINTER:-./sinter}
PY=/usr/bin/python3
TIME=/usr/bin/time
. bench/benchlib.sh
V=65 BATCH=8 CONTEXT=128

[ -n "${LLMC_DIR:-}" ] || die "set LLMC_DIR to a checkout of https://github.com/karpathy/llm.c (not shipped with sinter)"
[ -f "$LLMC_DIR/train_gpt2.c" ] || die "$LLMC_DIR/train_gpt2.c is missing"
[ "$STEPS" -ge 7 ] || die "STEPS=$STEPS: need at least 7 (5 warm-up steps and 2 timed ones)"
bench_need_time
bench_snapshot "$SINTER"
llmc_commit=$(git -C "$LLMC_DIR" rev-parse --short HEAD 2>/dev/null || echo "unknown commit")
gcc -Ofast -march=native -fopenmp -DOMP -Wno-unused-result -I"$LLMC_DIR" bench/llmc_step.c -lm \
	-o "$work/llmc_step" || die "could not build llm.c's trainer from $LLMC_DIR"
bench_tokens "$work/tokens.bin" $((STEPS * BATCH + CONTEXT)) $V 1

# run_one IMPL CONFIG THREADS REP: one run's log and peak RSS into $work/tT_IMPL_rREP.*
run_one() {
	local impl=$1 t=$3 rep=$4 t0=$SECONDS
	local base=$work/t${t}_${impl}_r${rep}
	if [ "$impl" = sinter ]; then
		"$TIME" -f %M -o "$base.rss" "$work/sinter" run bench/gpt_step.sn --threads "$t" --log "$base.jsonl" \
			-D "V=$V" -D "STEPS=$STEPS" -D "TOKENS=$work/tokens.bin" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "sinter failed (threads $t)"; }
	else
		OMP_NUM_THREADS=$t "$TIME" -f %M -o "$base.rss" "$work/llmc_step" "$work/llmc.bin" $V $CONTEXT 256 4 4 \
			$BATCH "$STEPS" "$base.jsonl" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "llm.c failed (threads $t)"; }
	fi
	printf '  %-6s threads %s: %3ds\n' "$impl" "$t" $((SECONDS - t0)) >&2
}
# REPEATS rounds of every thread count, the side that goes first alternating
bench_rounds_llmc() {
	local rep k=0 t
	for ((rep = 1; rep <= REPEATS; rep++)); do
		echo "round $rep/$REPEATS" >&2
		for t in $THREADS; do
			if (((rep + k) % 2)); then
				run_one sinter - "$t" $rep
				run_one llmc - "$t" $rep
			else
				run_one llmc - "$t" $rep
				run_one sinter - "$t" $rep
			fi
			k=$((k + 1))
		done
	done
}
bench_rounds_llmc
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" + uncommitted changes"

out=bench/llmc_results.md
{
	echo "# sinter vs llm.c: a GPT training step (bench/gpt_step.sn's model)"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- command: \`REPEATS=$REPEATS STEPS=$STEPS THREADS=\"$THREADS\" LLMC_DIR=... bench/llmc_step.sh\`"
	echo "- sinter: $SINTER built $sinter_built; the checkout: commit $commit"
	echo "- llm.c: train_gpt2.c of commit $llmc_commit, gcc -Ofast -march=native -fopenmp (bench/llmc_step.c)"
	echo "- CPU: $cpu, $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>}"
	echo "- load average before the runs: $load_start; after them: $load_end"
	echo
	"$PY" - "$work" "$STEPS" "$THREADS" <<'EOF'
import glob, sys
sys.path.insert(0, "bench")
from benchlib import summarize
work, steps, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
print("| threads | sinter ms/step | llm.c ms/step | sinter / llm.c | sinter peak MB | llm.c peak MB | runs (sinter ms) | runs (llm.c ms) |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
for t in threads:
    s = summarize(sorted(glob.glob(f"{work}/t{t}_sinter_r*.jsonl")), steps)
    l = summarize(sorted(glob.glob(f"{work}/t{t}_llmc_r*.jsonl")), steps)
    print(f"| {t} | {s['ms']:.1f} | {l['ms']:.1f} | {s['ms'] / l['ms']:.2f} | {s['mb']:.0f} | {l['mb']:.0f} "
          f"| {s['min']:.1f}-{s['max']:.1f} | {l['min']:.1f}-{l['max']:.1f} |")
EOF
	echo
	echo "Same shapes, same optimizer (AdamW lr 1e-3, betas 0.9/0.999, weight decay 0.01), random"
	echo "tokens below V on both sides (sinter reads a token file, llm.c draws its own).  llm.c"
	echo "applies weight decay to every parameter and has biases in every layer (GPT-2's"
	echo "layout), as sinter's model; its vocabulary is left unpadded here (V = 65), so the"
	echo "head does the same work.  Medians of the per-run median steps after the warm-up"
	echo "(wall time; the machine is shared, see the load average)."
} | tee "$out.tmp" && mv "$out.tmp" "$out"
echo "wrote $out"
