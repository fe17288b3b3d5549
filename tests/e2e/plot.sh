#!/usr/bin/env bash
# tests/e2e/plot.sh — `sinter plot`: the logs of two real runs (linreg.sn,
# two seeds) and two written here with train and validation series (one
# ending in a torn line, one with a null value) become an SVG that parses,
# with one panel per metric stem, every run in the legend and the expected
# number of lines (plain, smoothed, log-scale, against time); a PNG through
# rsvg-convert that is not blank where the panels are; and refusals, each
# exit 1 with the reason and no half-written picture.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
cd "$tmp" || exit 1
sinter=$root/sinter
chk() { "$PY" "$root/tests/e2e/plot_check.py" "$@"; }
"$sinter" run "$root/examples/linreg.sn" --log lr0.jsonl >/dev/null 2>&1
"$sinter" run "$root/examples/linreg.sn" --seed 1 --log lr1.jsonl >/dev/null 2>&1
"$PY" - <<'PY'
import json, math
for run, k in [("a", 80), ("b", 120)]:
    with open(f"{run}.jsonl", "w") as f:
        for s in range(1, 201):
            rec = {"step": s, "time": s * 0.02, "loss": 2.3 * math.exp(-s / k) + 0.2 + 0.05 * math.sin(s)}
            if s % 20 == 0:
                rec["val_loss"] = 2.3 * math.exp(-s / (k + 10)) + 0.3
                rec["val_acc"] = None if (run, s) == ("b", 100) else 1 - math.exp(-s / 70)
            f.write(json.dumps(rec).replace("NaN", "null") + "\n")
        if run == "a":
            f.write('{"step": 201, "time": 4.0')  # a run killed mid-line
PY
"$sinter" plot lr0.jsonl lr1.jsonl -o lr.svg 2>err
check "plot: two linreg runs exit 0" test $? -eq 0
chk svg lr.svg loss "lr0: loss,lr1: loss" --lines 2
"$sinter" plot a.jsonl b.jsonl -o ab.svg 2>err
check "plot: a torn last line is skipped with one warning naming the file and line" \
	bash -c "test \$(grep -c 'a.jsonl:201: 1 line that is not a log record' err) -eq 1 && test \$(wc -l <err) -eq 1"
# b's null val_acc is a gap: its polyline breaks in two
chk svg ab.svg loss,acc "a: loss,a: val_loss,b: loss,b: val_loss,a: val_acc,b: val_acc" --lines 7 --x step
"$sinter" plot a.jsonl b.jsonl -o smooth.svg --smooth 0.9 2>/dev/null
chk svg smooth.svg loss,acc "a: loss,a: val_loss,b: loss,b: val_loss,a: val_acc,b: val_acc" --lines 14
"$sinter" plot a.jsonl -o log.svg --log-y --x time 2>/dev/null
chk svg log.svg loss,acc "a: loss,a: val_loss,a: val_acc" --log-y --x time
need "rsvg-convert is not installed (make test-deps installs librsvg2-bin)" command -v rsvg-convert
"$sinter" plot a.jsonl b.jsonl -o ab.png 2>/dev/null
check "plot: -o ab.png exits 0" test $? -eq 0
chk png ab.png ab.svg
# two names of 156 and 155 characters that differ only after the 150th:
# two series in two panels, each name whole (it was cut at 127 characters)
long=$(printf 'm%.0s' $(seq 150))
"$PY" - "$long" <<'PY'
import json, sys
with open("long.jsonl", "w") as f:
    for s in range(1, 21):
        f.write(json.dumps({"step": s, "time": s * 0.1, sys.argv[1] + "_alpha": 1 / s, sys.argv[1] + "_beta": 2 / s}) + "\n")
PY
"$sinter" plot long.jsonl -o long.svg 2>/dev/null
chk svg long.svg "${long}_alpha,${long}_beta" "long: ${long}_alpha,long: ${long}_beta" --lines 2
refuse() { # NAME WANT ARGS...: exit 1, WANT in the message, no picture left
	# (sinter runs with PATH=$run_path when that is set)
	local name=$1 want=$2
	shift 2
	rm -f out.*
	env PATH="${run_path:-$PATH}" "$sinter" plot "$@" 2>err
	local rc=$?
	if [ $rc -eq 1 ] && grep -qF -- "$want" err && ! ls out.* >/dev/null 2>&1; then
		pass "plot refuses $name"
	else
		fail "plot refuses $name: exit $rc, $(head -2 err)"
	fi
}
refuse "a missing log" "cannot open 'nosuch.jsonl'" nosuch.jsonl -o out.svg
: >empty.jsonl
refuse "a log with no records" "'empty.jsonl' has no log records" empty.jsonl -o out.svg
refuse "no output" "no output given" a.jsonl
refuse "an unknown picture format" "written as .svg or .png" a.jsonl -o out.jpg
refuse "a smoothing weight of 1" "--smooth takes a weight from 0 to below 1" a.jsonl -o out.svg --smooth 1
refuse "an unknown option" "unknown option '--color'" a.jsonl -o out.svg --color
mkdir -p nobin
run_path=$tmp/nobin refuse "a PNG without rsvg-convert" "rsvg-convert is not installed" a.jsonl -o out.png
