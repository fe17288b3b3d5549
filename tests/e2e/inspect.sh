#!/usr/bin/env bash
# The inspection commands: sinter dot draws regions with fused kernels as
# clusters (or pictures through Graphviz), sinter plan reports the arena
# against its bounds, and both refuse what they cannot do with an error;
# a --log that received nothing is said once.  Exit codes are checked: a
# count of 0 from a command that failed must not match another 0.
set -u
. "$(dirname "$0")/../lib/common.sh"
cd "$root" || exit 1
scratch
dir=$tmp
CHECK_PREFIX="inspect: "
./sinter dot examples/mlp.sn >"$dir/all.dot" 2>&1
check "sinter dot exits 0" test $? -eq 0
./sinter ir examples/mlp.sn --after memplan >"$dir/all.ir" 2>&1
check "sinter ir --after memplan exits 0" test $? -eq 0
nregion=$(grep -c '^region' "$dir/all.ir")
check "dot draws every region ($nregion)" test "$(grep -c '^digraph' "$dir/all.dot")" -eq "$nregion" -a "$nregion" -gt 0
if ./sinter ir examples/mlp.sn --after fusion >/dev/null 2>&1; then
	check "dot draws fused kernels as clusters" grep -q 'subgraph cluster_k' "$dir/all.dot"
else
	check "dot draws no clusters without a fusion pass" bash -c "! grep -q 'subgraph cluster_k' '$dir/all.dot'"
fi
check "dot draws writes into parameters" grep -q 'style=dashed' "$dir/all.dot"
./sinter dot examples/mlp.sn --after autodiff --region step0 >"$dir/ad.dot" 2>&1
check "sinter dot --after autodiff --region step0 exits 0" test $? -eq 0
check "dot --after autodiff has no kernels yet" bash -c "! grep -q cluster '$dir/ad.dot' && grep -q '^digraph \"step0\"' '$dir/ad.dot'"
./sinter dot examples/mlp.sn --region nosuch >/dev/null 2>"$dir/err"
check "dot --region of an unknown region fails (exit 1)" test $? -eq 1
check "dot --region of an unknown region says why" grep -q "no region named 'nosuch'" "$dir/err"
./sinter dot examples/mlp.sn --after nosuch >/dev/null 2>"$dir/err"
check "dot --after an unknown pass fails (exit 1)" test $? -eq 1
check "dot --after an unknown pass says why" grep -q "unknown pass 'nosuch'" "$dir/err"
# -o: the picture through Graphviz (make deps installs it), or the text
./sinter dot examples/mlp.sn --region step0 -o "$dir/step.svg" 2>"$dir/err"
check "dot -o step.svg exits 0" test $? -eq 0
check "dot -o step.svg is well-formed SVG with the region's ops" "$PY" -c "
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
text = ' '.join(t.text or '' for t in root.iter())
sys.exit(0 if root.tag.endswith('svg') and 'matmul' in text and 'step0' in text else 1)" "$dir/step.svg"
./sinter dot examples/mlp.sn -o "$dir/all2.dot" 2>"$dir/err"
check "dot -o all.dot writes the text of every region" cmp -s "$dir/all.dot" "$dir/all2.dot"
./sinter dot examples/mlp.sn -o "$dir/all.svg" 2>"$dir/err"
check "dot -o PICTURE of several regions fails (exit 1), naming --region" \
	bash -c "test $? -eq 1 && grep -q 'choose it with --region' '$dir/err' && ! ls '$dir'/all.svg* 2>/dev/null"
mkdir -p "$dir/nobin"
PATH=$dir/nobin ./sinter dot examples/mlp.sn --region step0 -o "$dir/nodot.svg" 2>"$dir/err"
check "dot -o step.svg without Graphviz fails (exit 1), says what to install, leaves no file" \
	bash -c "test $? -eq 1 && grep -q \"Graphviz's 'dot' is not installed\" '$dir/err' && ! ls '$dir'/nodot.svg* 2>/dev/null"
./sinter dot examples/mlp.sn --region step0 -o "$dir/step.jpg" 2>"$dir/err"
check "dot -o of an unknown format fails (exit 1), naming the formats" \
	bash -c "test $? -eq 1 && grep -q 'writes .dot or .gv' '$dir/err'"
./sinter plan examples/mlp.sn >"$dir/plan" 2>&1
check "sinter plan exits 0" test $? -eq 0
check "plan reports the arena against the lower bound and the naive sum" grep -qi 'lower bound' "$dir/plan"
# issue 4: the MLP's activation arena is within 1.1x the lower bound and at
# most half the naive sum, in every region
ok=$(awk '/arena\/naive sum/ { if ($3 > 0.5) bad = 1; n++ } /arena\/lower bound/ { if ($3 > 1.1) bad = 1 }
	END { print (n > 0 && !bad) ? "yes" : "no" }' "$dir/plan")
check "mlp arena <= 1.1 x lower bound and <= 0.5 x naive sum" test "$ok" = yes
# issue 4: after fusion the optimizer update of every example is one kernel
# per parameter group over the packed arenas: every write of a step region
# stores a value of one of that many kernels into a `packed` span (gpt_char
# and gpt_docs have two groups, weight decay and none; the others one).  Writes of model
# buffers, BatchNorm's running statistics, are not the optimizer's and are
# left out.  examples/resnet.sn's Conv2d(bias = false) layers declare no
# bias, so its parameters are one run and its update one kernel too.
# --stats shows the kernel counts
for prog in examples/*.sn; do
	ngroups=1
	[ "$prog" = examples/gpt_char.sn ] && ngroups=2
	[ "$prog" = examples/gpt_docs.sn ] && ngroups=2
	./sinter ir "$prog" --after fusion >"$dir/fused" 2>&1
	check "sinter ir $prog --after fusion exits 0" test $? -eq 0
	verdict=$("$PY" - "$dir/fused" "$ngroups" <<'PY'
import re, sys
regions, cur = [], None
for line in open(sys.argv[1]):
    if line.startswith("region "):
        cur = {"name": line.split()[1], "group": {}, "packed": set(), "buffers": set(), "writes": []}
        regions.append(cur)
    elif cur is not None:
        m = re.match(r"\s+%(\d+) = (\w+).*?(?:#k(\d+))?(?: @\d+)?$", line.rstrip())
        if m:
            cur["group"][m.group(1)] = m.group(3)
            if m.group(2) == "packed":
                cur["packed"].add(m.group(1))
            if m.group(2) == "state" and ' "buffer" :' in line:
                cur["buffers"].add(m.group(1))
        w = re.match(r"\s+write %(\d+), %(\d+)", line)
        if w and w.group(1) not in cur["buffers"]:
            cur["writes"].append((w.group(1), w.group(2)))
steps = [r for r in regions if r["writes"]]
bad = [r["name"] for r in steps
       if len({r["group"].get(v) for _, v in r["writes"]}) != int(sys.argv[2])
       or None in {r["group"].get(v) for _, v in r["writes"]}
       or any(s not in r["packed"] for s, _ in r["writes"])]
print("ok %d" % len(steps) if steps and not bad else "bad %s" % (",".join(bad) or "no step region"))
PY
)
	check "$prog: the optimizer update is $ngroups kernel(s) over packed arenas ($verdict)" test "${verdict%% *}" = ok
done
./sinter check examples/mlp.sn --stats >"$dir/stats" 2>&1
check "sinter check --stats exits 0" test $? -eq 0
check "--stats shows the kernels before and after fusion" \
	bash -c "grep -q 'before fusion' '$dir/stats' && grep -q 'after fusion' '$dir/stats'"
printf 'model P {\n  param w: f32[3] = zeros\n}\ntrain {\n  let p = P()\n  let opt = sgd(lr = 0.1)\n  minimize(opt, sum(p.w * p.w))\n}\n' >"$dir/nolog.sn"
./sinter run "$dir/nolog.sn" --log "$dir/nolog.jsonl" >/dev/null 2>"$dir/err"
check "a --log that nothing was logged to warns once, naming the flag and the path" \
	bash -c "test $? -eq 0 && test \$(grep -c \"warning: --log '$dir/nolog.jsonl' is empty\" '$dir/err') -eq 1"
./sinter run examples/linreg.sn --log "$dir/linreg.jsonl" >/dev/null 2>"$dir/err"
check "a --log that received lines does not warn" bash -c "test $? -eq 0 && ! grep -q 'is empty' '$dir/err' && test -s '$dir/linreg.jsonl'"
