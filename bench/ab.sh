#!/usr/bin/env bash
# bench/ab.sh — one sinter binary against another on the same programs, in
# one run: for a change that promises "no behaviour change, speed within
# noise" (a refactor), the binary of the commit before it (OLD) against
# the new one (NEW, default ./sinter).
#
# Programs: examples/mlp.sn for one epoch (468 steps) and bench/gpt_step.sn
# (V = 65, STEPS steps on random tokens).  The two binaries alternate,
# RUNS times each (default 3); a run's figure is the median step time of
# its --log after the warm-up (benchlib.step_time), the report the median
# over runs, NEW / OLD, and the peak RSS.  Outputs: both binaries must
# print the same text and log the same losses, bit for bit; the script
# says SAME or DIFFERENT for each program and exits 1 on a difference.
#
# Usage (from anywhere):
#   git worktree add /tmp/old REV && make -C /tmp/old sinter
#   bench/ab.sh /tmp/old/sinter [NEW]
#   RUNS=5 STEPS=40 bench/ab.sh /tmp/old/sinter
# OLD runs with the stdlib beside it (OLD's folder/stdlib) when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
TIME=${TIME:-/usr/bin/time}
RUNS=${RUNS:-3}
STEPS=${STEPS:-30}
. bench/benchlib.sh
[ $# -ge 1 ] || die "usage: bench/ab.sh OLD_SINTER [NEW_SINTER]"
old=$1 new=${2:-./sinter}
[ -x "$old" ] || die "$old is not an executable"
bench_need_time
bench_snapshot "$new"
cp "$old" "$work/old"
mv "$work/sinter" "$work/new"
old_stdlib=$(cd "$(dirname "$old")" && pwd)/stdlib
[ -d "$old_stdlib" ] || old_stdlib=$SINTER_STDLIB
new_stdlib=$SINTER_STDLIB
if [ "$new" != ./sinter ] && [ -d "$(dirname "$new")/stdlib" ]; then
	new_stdlib=$(cd "$(dirname "$new")" && pwd)/stdlib
fi

# BATCH 8, T 128: STEPS * 8 + 128 tokens give exactly STEPS batches
bench_tokens "$work/tokens.bin" $((STEPS * 8 + 128))

# run_one WHO PROG REP: one training run into $work/PROG_WHO_rREP.{jsonl,rss,out}
run_one() {
	local who=$1 prog=$2 rep=$3 lib=$new_stdlib
	[ "$who" = old ] && lib=$old_stdlib
	local base=$work/${prog}_${who}_r$rep args
	case $prog in
	mlp) args=("$root/examples/mlp.sn" -D EPOCHS=1) ;;
	gpt) args=("$root/bench/gpt_step.sn" -D V=65 -D "STEPS=$STEPS" -D "TOKENS=$work/tokens.bin") ;;
	esac
	# in $work: mlp.sn saves mlp.safetensors into the current folder
	(cd "$work" && SINTER_STDLIB=$lib "$TIME" -f %M -o "$base.rss" "./$who" run "${args[@]}" --log "$base.jsonl") \
		>"$base.out" 2>&1 || { tail -20 "$base.out" >&2; die "$who failed on $prog"; }
}

for ((rep = 1; rep <= RUNS; rep++)); do
	echo "round $rep/$RUNS" >&2
	for prog in mlp gpt; do
		if ((rep % 2)); then
			run_one old $prog $rep
			run_one new $prog $rep
		else
			run_one new $prog $rep
			run_one old $prog $rep
		fi
	done
done

"$PY" - "$work" "$RUNS" "$STEPS" "$old" "$new" "$load_start" <<'EOF'
import json, statistics, sys
sys.path.insert(0, "bench")
from benchlib import step_time
work, runs, steps, old, new, load0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
def losses(path):
    return [(r["step"], r["loss"]) for r in map(json.loads, open(path)) if "loss" in r]
differ = False
print(f"OLD {old}\nNEW {new}\n")
print(f"{'program':8s} {'OLD ms/step':>12s} {'NEW ms/step':>12s} {'NEW/OLD':>8s} {'OLD MB':>7s} {'NEW MB':>7s}  outputs")
for prog, n in (("mlp", 468), ("gpt", steps)):
    ms, mb = {}, {}
    for who in ("old", "new"):
        ms[who] = statistics.median(step_time(f"{work}/{prog}_{who}_r{r}.jsonl", n, "bench/ab.sh")[0] * 1e3
                                    for r in range(1, runs + 1))
        mb[who] = statistics.median(int(open(f"{work}/{prog}_{who}_r{r}.rss").read().split()[-1]) / 1024
                                    for r in range(1, runs + 1))
    same = all(open(f"{work}/{prog}_old_r{r}.out").read() == open(f"{work}/{prog}_new_r{r}.out").read()
               and losses(f"{work}/{prog}_old_r{r}.jsonl") == losses(f"{work}/{prog}_new_r{r}.jsonl")
               for r in range(1, runs + 1))
    differ |= not same
    print(f"{prog:8s} {ms['old']:12.3f} {ms['new']:12.3f} {ms['new'] / ms['old']:8.3f} {mb['old']:7.0f} {mb['new']:7.0f}  "
          f"{'SAME' if same else 'DIFFERENT'}")
with open("/proc/loadavg") as f:
    load1 = " ".join(f.read().split()[:3])
print(f"\n{runs} alternating runs each; load {load0} before, {load1} after (2 cores: above ~1 the times are noisy)")
sys.exit(1 if differ else 0)
EOF
