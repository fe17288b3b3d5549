#!/usr/bin/env bash
# bench/gpt_step.sh — the training step of the GPT of examples/gpt_char.sn,
# sinter against PyTorch on the same CPU, in one run.
#
# Trains the GPT (T = 128, C = 256, L = 4, H = 4, batch 8, pre-norm blocks,
# tanh GELU, tied head, GPT-2 initialization, AdamW lr 1e-3 weight decay
# 0.01) for STEPS steps on random tokens, for vocabularies V = 65 and 256,
# with 1 and 2 threads, once in sinter (bench/gpt_step.sn, on a token file
# written here with a fixed seed) and once in PyTorch (bench/torch_gpt_step.py,
# Debian's /usr/bin/python3 with torch 1.13, on random tokens of the same V),
# and reports per configuration and thread count:
#   - the time per step: the differences of consecutive "time" fields of the
#     --log JSON lines (torch writes the same format), median after the
#     warm-up per run, then the median over the REPEATS runs;
#   - the peak RSS of each process (/usr/bin/time -f %M), median over runs;
#   - the GFLOP of the step's matrix products (computed from the shapes) and
#     the floor: cblas_sgemm alone on those products (bench/gpt_report.py
#     sgemm, timed once per round), against which the step's GFLOP/s is set.
# Runs are interleaved (sinter, torch, torch, sinter, ...; who goes first
# alternates per configuration and per round) and repeated, because the
# machine is small, shared and noisy.  Prints Markdown tables and writes
# them, with the date, the command, the CPU and the commit, to
# bench/gpt_results.md.
#
# Usage (from anywhere; needs ./sinter built, i.e. `make` first):
#   bench/gpt_step.sh [SINTER_FLAGS...]      flags go to every `sinter run`
#   REPEATS=1 STEPS=8 bench/gpt_step.sh      a quick try
#   REPEATS=5 STEPS=40 VOCABS="65 256" THREADS="1 2" SEED=1 bench/gpt_step.sh
#   SINTER=/tmp/old/sinter bench/gpt_step.sh     another sinter binary than ./sinter
#   make bench-gpt
# With the defaults (REPEATS=3, STEPS=30) it takes 6-9 minutes here.
#
# Needs: /usr/bin/python3 with torch (python3-torch), GNU time at
# /usr/bin/time (package `time`, installed here through apt-get when missing
# and run as root), OpenBLAS (libopenblas.so.0, which sinter links).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-3}
STEPS=${STEPS:-30}
VOCABS=${VOCABS:-65 256}
THREADS=${THREADS:-1 2}
SEED=${SEED:-1}          # of the token files
SGEMM_REPS=${SGEMM_REPS:-10}
SINTER=${SINTER:-./sinter}
PY=/usr/bin/python3
TIME=/usr/bin/time
. bench/benchlib.sh
BATCH=8 CONTEXT=128      # as in bench/gpt_step.sn
start=$(date +%s)

[ -x "$SINTER" ] || die "$SINTER is missing; build it first (make)"
[ "$STEPS" -ge 7 ] || die "STEPS=$STEPS: need at least 7 (5 warm-up steps and 2 timed ones)"
"$PY" -c 'import torch' 2>/dev/null || die "$PY cannot import torch (Debian package python3-torch)"
bench_need_time

bench_snapshot "$SINTER"
bench_env OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS OPENBLAS_THREAD_TIMEOUT OPENBLAS_VERBOSE \
	GOTO_NUM_THREADS OMP_NUM_THREADS OMP_WAIT_POLICY

# One token file per V, the format tokens() reads (docs/LANGUAGE.md §13.3):
# 256 int32 (magic 20240520, version 1, token count, zeros), then uint16
# tokens.  STEPS * BATCH + CONTEXT tokens give exactly STEPS batches of
# BATCH windows, so the loop of gpt_step.sn ends with the last step.
for v in $VOCABS; do
	"$PY" - "$work/tokens_$v.bin" "$v" $((STEPS * BATCH + CONTEXT)) "$SEED" <<'EOF'
import random, struct, sys
path, vocab, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed * 1000003 + vocab)
toks = [rng.randrange(vocab) for _ in range(n)]
with open(path, "wb") as f:
    f.write(struct.pack("<256i", 20240520, 1, n, *[0] * 253) + struct.pack("<%dH" % n, *toks))
EOF
done

SINTER_FLAGS=("$@")
first_v=${VOCABS%% *}
blas=$("$work/sinter" check bench/gpt_step.sn -D "V=$first_v" -D "TOKENS=$work/tokens_$first_v.bin" \
	--verbose "${SINTER_FLAGS[@]}" 2>&1 >/dev/null | sed -n 's/^sinter: blas: //p' | head -1 || true)

# run_one IMPL V THREADS REP: one training run, its log and peak RSS into
# $work/vV_tTHREADS_IMPL_rREP.{jsonl,rss,out}.
run_one() {
	local impl=$1 v=$2 t=$3 rep=$4
	local base=$work/v${v}_t${t}_${impl}_r${rep}
	local t0=$SECONDS
	if [ "$impl" = sinter ]; then
		"$TIME" -f %M -o "$base.rss" "$work/sinter" run bench/gpt_step.sn --threads "$t" --log "$base.jsonl" \
			-D "V=$v" -D "STEPS=$STEPS" -D "TOKENS=$work/tokens_$v.bin" "${SINTER_FLAGS[@]}" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "sinter failed on V=$v (threads $t)"; }
	else
		"$TIME" -f %M -o "$base.rss" "$PY" bench/torch_gpt_step.py --vocab "$v" --steps "$STEPS" \
			--threads "$t" --seed "$SEED" --log "$base.jsonl" >"$base.out" 2>&1 ||
			{ tail -20 "$base.out" >&2; die "torch_gpt_step.py failed on V=$v (threads $t)"; }
	fi
	printf '  %-6s V=%-4s threads %s: %3ds\n' "$impl" "$v" "$t" $((SECONDS - t0)) >&2
}

# floor REP: cblas_sgemm alone on the step's products, once per round
floor() {
	# shellcheck disable=SC2086 # VOCABS and THREADS are lists
	"$PY" bench/gpt_report.py sgemm "$SGEMM_REPS" $VOCABS -- $THREADS >"$work/sgemm_r$1.json"
}
bench_rounds "$VOCABS" "$THREADS"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# What torch costs before it trains (the interpreter and its libraries), the CPU, the checkout.
bench_facts "$work"

tables=$("$PY" bench/gpt_report.py report "$work" "$STEPS")
torch_blas=$(cat "$work"/v*_t*_torch_r1.out | grep -o 'threads torch=.*' | sort -u | paste -sd';' | sed 's/;/; /g')
mode=${SINTER_FLAGS[*]:-}

{
	echo "# sinter vs PyTorch: a GPT training step (examples/gpt_char.sn's model)"
	echo
	echo "- date: $(date '+%Y-%m-%d %H:%M %Z')"
	echo "- command: \`REPEATS=$REPEATS STEPS=$STEPS VOCABS=\"$VOCABS\" THREADS=\"$THREADS\" SEED=$SEED SGEMM_REPS=$SGEMM_REPS bench/gpt_step.sh${mode:+ $mode}\`"
	echo "- sinter: $SINTER built $sinter_built; the checkout: commit $commit; \`sinter run\` flags: ${mode:-none (the default backend)}"
	echo "- sinter's BLAS (\`sinter check --verbose\`, default threads; every run sets \`--threads\`): ${blas:-?}"
	echo "- torch: $torch_version (Debian), $PY; $torch_blas"
	echo "- CPU: $cpu_line"
	echo "- environment: $envline"
	echo "- load average (1, 5, 15 min) before the runs: $load_start; after them (the benchmark adds up to 2): $load_end"
	if awk -v a="${load_start%% *}" 'BEGIN { exit !(a > 0.5) }'; then
		echo
		echo "**The machine was busy with other work during this run: the numbers are noisy (see the"
		echo "spread below), and a ratio of two numbers taken at different moments (e.g. a step faster"
		echo "than the sgemm floor) can be off; rerun on a quiet machine for firm figures.**"
	fi
	echo
	echo "$tables"
	echo
	echo "## How"
	echo
	echo "Both sides train the same model (bench/gpt_step.sn and bench/torch_gpt_step.py: token and"
	echo "position embeddings, 4 pre-norm blocks with causal self-attention and a tanh-GELU MLP, a"
	echo "final LayerNorm and an output head tied to the token embedding, GPT-2's initialization) with"
	echo "cross-entropy and AdamW (lr 1e-3, weight decay 0.01) at batch 8 x 128 tokens, on random"
	echo "tokens below V: sinter reads a token file written with seed $SEED, PyTorch draws its own (the"
	echo "data differ, the shapes do not).  The first step also compiles (sinter) or allocates; the"
	echo "warm-up steps are left out.  Both use the same OpenBLAS for GEMMs; torch_gpt_step.py sets"
	echo "torch.set_num_threads and the OpenBLAS threads to the same N, and OMP_WAIT_POLICY=PASSIVE"
	echo "unless set; sinter gets \`--threads N\`.  Peak RSS is the whole process (/usr/bin/time %M);"
	echo "\`python3 -c 'import torch'\` alone takes $torch_base MB here.  The floor: cblas_sgemm alone on"
	echo "every matrix product of one step, one call per product and per batch index of the attention"
	echo "products, as sinter's generated code calls it, with N OpenBLAS threads inside each call; it"
	echo "bounds sinter's step, not PyTorch's, which may split a batched product over its threads"
	echo "differently.  The last round's figures (bench/gpt_report.py sgemm):"
	echo
	echo '```'
	"$PY" bench/gpt_report.py sgemm-table "$work"
	echo '```'
} >bench/gpt_results.md

echo "$tables"
echo
echo "written to bench/gpt_results.md ($(($(date +%s) - start)) s)"
