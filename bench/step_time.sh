#!/usr/bin/env bash
# bench/step_time.sh — time per training step of examples/mlp.sn (784-256-10
# MLP, batch 128, AdamW) through the JIT and through the reference
# interpreter (--interp), and their ratio.  Each run trains one epoch
# (-D EPOCHS=1: 468 steps) with --log; a step's time is the difference of
# consecutive "time" fields of the JSON-lines log, and a run's figure is the
# median over its steps (the first steps, which compile, fall out of the
# median).  The two back ends alternate, RUNS times each (default 3), and
# the medians over runs are reported: the machine is small and shared.
# The requirement (issue 3): the JIT is not slower than the interpreter.
#
# Usage (from anywhere; needs ./sinter built, i.e. `make` first):
#   bench/step_time.sh [SINTER_FLAGS...]      e.g. --threads 1
#   RUNS=5 bench/step_time.sh
#   make bench-step
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
. bench/benchlib.sh
bench_snapshot
blas=$("$work/sinter" check examples/linreg.sn --verbose "$@" 2>&1 >/dev/null | sed -n 's/^sinter: blas: //p' | head -1)
for r in $(seq "$RUNS"); do
	order="jit interp"
	[ $((r % 2)) -eq 0 ] && order="interp jit"
	for be in $order; do
		flags=()
		[ $be = interp ] && flags=(--interp)
		(cd "$work" && ./sinter run "$root/examples/mlp.sn" -D EPOCHS=1 --log "$work/$be$r.jsonl" "${flags[@]}" "$@") \
			>"$work/$be$r.out" 2>&1
	done
done

"$PY" - "$work" "$RUNS" "$blas" "$*" "$load_start" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import json, statistics, sys
work, runs, blas, flags, load0, load1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
med = {}
for be in ("jit", "interp"):
    per = []
    for r in range(1, runs + 1):
        t = [json.loads(l)["time"] for l in open(f"{work}/{be}{r}.jsonl") if l.strip()]
        if len(t) < 10:
            sys.exit(f"bench/step_time.sh: the {be} run {r} logged {len(t)} steps")
        per.append(statistics.median(b - a for a, b in zip(t, t[1:])) * 1e3)
    med[be] = statistics.median(per)
    print(f"{be:7s} median step {med[be]:7.3f} ms, best run {min(per):7.3f} ms   "
          f"(runs: {' '.join(f'{x:.3f}' for x in per)} ms; {len(t)} steps each)")
ratio = med["interp"] / med["jit"]
print(f"ratio   interpreter / JIT = {ratio:.2f}x   (examples/mlp.sn, one epoch{', ' + flags if flags else ''})")
print(f"blas    {blas}")
print(f"load    {load0} before, {load1} after (1, 5, 15 min; 2 cores: above ~1 the numbers are noisy)")
print(f"{'OK' if ratio >= 1 else 'SLOW'}: the JIT is {'not ' if ratio >= 1 else ''}slower than the interpreter")
EOF
