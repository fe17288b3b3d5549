#!/usr/bin/env bash
# bench/profile.sh — what the profiler costs: the GPT step of bench/gpt_step.sn
# (V = 65, STEPS steps on random tokens, the program bench/gpt_step.sh
# measures) run without flags and with `--profile trace.json`, interleaved in
# ROUNDS rounds (who goes first alternates), THREADS threads.  With OLD=PATH
# a third configuration: that sinter binary without flags (the commit before
# the instrumentation), which measures what the instrumentation costs when
# it is off.
#
# A run's figures are the median step time of its --log after the warm-up
# (benchlib.step_time) and the CPU time of the whole run (GNU time, user +
# system); the report gives the medians over rounds, the fastest and
# slowest run, and the ratios to the run without flags.  The
# runs must log the same losses bit for bit (the profiler only watches).
# Writes bench/profile_results.md with the command, the date, the CPU and
# the commit.  The target: --profile at most 3% slower than no flag.
#
# Usage (from anywhere; needs ./sinter built):
#   bench/profile.sh                       ROUNDS=5 STEPS=30 THREADS=2
#   OLD=/tmp/base/sinter bench/profile.sh  also the binary before the profiler
#   make bench-profile
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
TIME=${TIME:-/usr/bin/time}
ROUNDS=${ROUNDS:-5}
STEPS=${STEPS:-30}
THREADS=${THREADS:-2}
OLD=${OLD:-}
. bench/benchlib.sh
[ "$STEPS" -ge 7 ] || die "STEPS=$STEPS: need at least 7 (5 warm-up steps and 2 timed ones)"
[ -z "$OLD" ] || [ -x "$OLD" ] || die "OLD=$OLD is not an executable"
bench_need_time
bench_snapshot ./sinter
[ -z "$OLD" ] || cp "$OLD" "$work/old"
configs="none profile${OLD:+ old}"
# the commit of the binary measured, read before the runs (others may commit meanwhile)
cmd="bench/profile.sh  (ROUNDS=$ROUNDS STEPS=$STEPS THREADS=$THREADS${OLD:+ OLD=$OLD})"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=" + uncommitted changes"

# BATCH 8, T 128: STEPS * 8 + 128 tokens give exactly STEPS batches
bench_tokens "$work/tokens.bin" $((STEPS * 8 + 128))

# run_one CONFIG ROUND: one training run into $work/CONFIG_rROUND.{jsonl,out}
run_one() {
	local cfg=$1 r=$2 bin=$work/sinter flags=()
	local base=$work/${cfg}_r$r
	case $cfg in
	profile) flags=(--profile "$base.json") ;;
	old) bin=$work/old ;;
	esac
	"$TIME" -f "%U %S" -o "$base.cpu" "$bin" run bench/gpt_step.sn -D V=65 -D "STEPS=$STEPS" \
		-D "TOKENS=$work/tokens.bin" --threads "$THREADS" --log "$base.jsonl" "${flags[@]}" >"$base.out" 2>&1 ||
		{ tail -20 "$base.out" >&2; die "$cfg failed"; }
}

for ((r = 1; r <= ROUNDS; r++)); do
	echo "round $r/$ROUNDS" >&2
	order=$configs
	((r % 2)) || order=$(tr ' ' '\n' <<<"$configs" | tac | paste -sd' ')
	for cfg in $order; do
		run_one "$cfg" "$r"
	done
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
"$PY" - "$work" "$ROUNDS" "$STEPS" "$configs" "$cmd" "$commit" "$cpu, $(nproc) cores" "$load_start" <<'EOF' |
import json, statistics, sys, time
sys.path.insert(0, "bench")
from benchlib import step_time
work, rounds, steps, configs, cmd, commit, cpu, load0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
configs = configs.split()
what = {"none": "no flag", "profile": "--profile trace.json", "old": "the binary before the profiler, no flag"}
ms, cpus, losses = {}, {}, {}
for c in configs:
    cpus[c] = [sum(map(float, open(f"{work}/{c}_r{r}.cpu").read().split()[-2:])) for r in range(1, rounds + 1)]
    ms[c] = [step_time(f"{work}/{c}_r{r}.jsonl", steps, "bench/profile.sh")[0] * 1e3 for r in range(1, rounds + 1)]
    losses[c] = [[x["loss"] for x in map(json.loads, open(f"{work}/{c}_r{r}.jsonl"))] for r in range(1, rounds + 1)]
same = all(losses[c] == losses["none"] for c in configs)
with open("/proc/loadavg") as f:
    load1 = " ".join(f.read().split()[:3])
base = statistics.median(ms["none"])
print("# What the profiler costs: the GPT step\n")
print(f"`{cmd}` on {time.strftime('%Y-%m-%d %H:%M')}, commit {commit}; {cpu}; load {load0} before, "
      f"{load1} after.  The GPT of bench/gpt_step.sn (V = 65), {steps} steps, medians of the step time "
      f"after the warm-up, {rounds} interleaved rounds.\n")
cbase = statistics.median(cpus["none"])
print("| configuration | ms/step (median) | fastest | slowest | ratio to no flag | CPU s per run (median) | ratio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for c in configs:
    m, u = statistics.median(ms[c]), statistics.median(cpus[c])
    print(f"| {what[c]} | {m:.1f} | {min(ms[c]):.1f} | {max(ms[c]):.1f} | {m / base:.3f} | {u:.1f} | {u / cbase:.3f} |")
print("\nCPU s per run: user + system time of the whole run (GNU time), compiling included, which is the "
      "same work in every configuration; on a machine shared with other jobs it varies less than the step time.")
print(f"\nLosses of every run {'bit for bit the same' if same else 'DIFFERENT'} across configurations.")
sys.exit(0 if same else 1)
EOF
	tee bench/profile_results.md
