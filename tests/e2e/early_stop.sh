#!/usr/bin/env bash
# tests/e2e/early_stop.sh — examples/early_stop.sn (issue 12): on a tenth of
# Fashion-MNIST it stops early by the rule it states (the validation loss
# has not improved for PATIENCE evaluations), which is recomputed here from
# the losses it logs; MAX_STEPS stops it after exactly that many steps; and
# a run killed with SIGKILL and resumed from its last checkpoint logs the
# same records (training and validation losses, bit for bit) and stops at
# the same step as an uninterrupted run: resume restores the positions of
# the while and for loops and the host variables (best, bad, history).
# Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
snapshot
scratch_dir=$tmp
cd "$scratch_dir" || exit 1
es=$root/examples/early_stop.sn
args=(-D USE=0.1 -D EVAL_EVERY=20 -D PATIENCE=2 -D BEST="$tmp/best.safetensors")

# records FILE: the log's records without their times, one JSON per line
records() {
	"$PY" -c 'import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    r.pop("time", None)
    print(json.dumps(r, sort_keys=True))' "$1"
}

check "early_stop check" "$sinter" check "$es"

"$sinter" run "$es" "${args[@]}" --log full.jsonl >full.out 2>full.err
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "early_stop run exits $rc: $(head -2 full.err)"
	exit 1
fi
records full.jsonl >full.rec
"$PY" - "$root/tests/lib" full.jsonl full.out 2 20 <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1])
from checks import Checks
report = Checks("early_stop ")
log = [json.loads(l) for l in open(sys.argv[2])]
out = open(sys.argv[3]).read().splitlines()
patience, every = int(sys.argv[4]), int(sys.argv[5])
# the validation losses as printed (full precision), as logged (9 digits)
vals = [float(v) for v in out[-1].removeprefix("history [").removesuffix("]").split(", ")]
logged = [r["val_loss"] for r in log if "val_loss" in r]
steps = [r["step"] for r in log if "loss" in r]
report("logs every validation loss it keeps in history",
       len(vals) == len(logged) and all(abs(a - b) <= 1e-8 * abs(a) for a, b in zip(vals, logged)),
       f"{len(vals)} printed, {len(logged)} logged")
# the rule: stop at the first evaluation that is the PATIENCE-th since the best
best, bad, stop = float("inf"), 0, None
for i, v in enumerate(vals):
    if v < best:
        best, bad = v, 0
    else:
        bad += 1
    if bad >= patience:
        stop = i
        break
per_epoch = 5400 // 128
report("stops early by its rule", stop is not None and stop == len(vals) - 1,
       f"{len(vals)} evaluations, the rule stops after {stop}")
report("stops before the epoch limit", steps and steps[-1] < 30 * per_epoch and steps == list(range(1, len(steps) + 1)),
       f"last step {steps[-1] if steps else None}")
report("evaluates every EVAL_EVERY steps",
       [r["step"] for r in log if "val_loss" in r] == [every * (k + 1) for k in range(len(vals))], "evaluation steps differ")
report("prints the stop step, the evaluations and the best loss",
       out[-2] == f"stopped at step {steps[-1]} after {len(vals)} evaluations; best validation loss {repr(min(vals))}",
       out[-2])
sys.exit(report.status())
PY
[ -s "$tmp/best.safetensors" ] && pass "early_stop saves the best weights" || fail "early_stop: no best weights saved"

"$sinter" run "$es" "${args[@]}" -D MAX_STEPS=50 --log steps.jsonl >steps.out 2>steps.err
last=$(tail -1 steps.out)
if grep -q "^stopped at step 50 after 3 evaluations" <(tail -2 steps.out | head -1) && [ "$(grep -c '"loss"' steps.jsonl)" -eq 50 ]; then
	pass "early_stop MAX_STEPS=50 stops after step 50 (evaluations at 20, 40, 50)"
else
	fail "early_stop MAX_STEPS=50: $(tail -2 steps.out | head -1) / $(grep -c '"loss"' steps.jsonl) steps: $(head -2 steps.err)"
fi

for k in 75 170; do
	d=kill$k
	mkdir "$d"
	if ! kill_at_lines "$d/part.jsonl" "$k" "$sinter" run "$es" "${args[@]}" -D CKPT="$d/es.ckpt" \
		--log "$d/part.jsonl" >"$d/part.out" 2>"$d/part.err"; then
		fail "early_stop resume $k: the run ended before $k log lines: $(head -2 "$d/part.err")"
		continue
	fi
	"$sinter" run "$es" "${args[@]}" -D CKPT="$d/es.ckpt" -D RESUME=true --log "$d/rest.jsonl" \
		>"$d/rest.out" 2>"$d/rest.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "early_stop resume $k: the resumed run exits $rc: $(head -3 "$d/rest.err")"
		continue
	fi
	records "$d/part.jsonl" >"$d/part.rec"
	records "$d/rest.jsonl" >"$d/rest.rec"
	first=$("$PY" -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["step"])' "$d/rest.jsonl")
	# the killed run's records before the resumed run's first step, then the resumed run's
	{ "$PY" -c 'import json, sys
for line in open(sys.argv[1]):
    if json.loads(line)["step"] < int(sys.argv[2]):
        print(line, end="")' "$d/part.rec" "$first"; cat "$d/rest.rec"; } >"$d/merged.rec"
	if ! cmp -s full.rec "$d/merged.rec"; then
		fail "early_stop resume (killed after $k records, resumed at step $first): the records differ:"
		diff full.rec "$d/merged.rec" | head -4
	elif ! cmp -s <(tail -2 full.out) <(tail -2 "$d/rest.out"); then
		fail "early_stop resume $k: the resumed run ends with '$(tail -2 "$d/rest.out" | head -1)', not '$(tail -2 full.out | head -1)'"
	else
		pass "early_stop resume: killed after $k records, resumed at step $first: $(wc -l <full.rec) records bit-identical, same stop"
	fi
done
