#!/usr/bin/env bash
# tests/e2e/generate.sh — generate() draws from the distribution it claims:
# runs generate.sn (fixed logits log P, P = 0.1 0.2 0.3 0.4) and compares the
# frequencies of 4000 draws with softmax(log(P) / temperature) restricted
# to the top_k, computed here.  The draws are seeded, so the test is
# deterministic; the bounds are 5 standard deviations of a frequency.
set -u
. "$(dirname "$0")/../lib/common.sh"
scratch
out=$tmp/out
if ! "$root/sinter" run "$root/tests/e2e/generate.sn" >"$out" 2>&1; then
	fail "generate: sinter failed: $(head -3 "$out")"
	exit 1
fi
"$PY" - "$out" <<'PY'
import math, sys
P = [0.1, 0.2, 0.3, 0.4]
got = {}
for line in open(sys.argv[1]):
    name, rest = line.split(None, 1)
    got[name] = [int(t) for t in rest.strip().strip("[]").split(",")]

def want(temperature, top_k):
    w = [p ** (1 / temperature) for p in P]
    keep = sorted(range(4), key=lambda i: -w[i])[:top_k or 4]
    z = sum(w[i] for i in keep)
    return [w[i] / z if i in keep else 0.0 for i in range(4)]

for name, temperature, top_k in (("plain", 1.0, 0), ("hot", 2.0, 0), ("top2", 1.0, 2)):
    draws = got[name][1:]  # after the one-token prompt
    n = len(draws)
    freq = [draws.count(i) / n for i in range(4)]
    exp = want(temperature, top_k)
    bad = [i for i in range(4) if abs(freq[i] - exp[i]) > 5 * math.sqrt(max(exp[i] * (1 - exp[i]), 1e-12) / n)]
    ok = n == 4000 and not bad
    print(("PASS" if ok else "FAIL") + " generate %s: frequencies %s, expected %s%s" % (
        name, " ".join("%.3f" % f for f in freq), " ".join("%.3f" % e for e in exp),
        "" if ok else " (n = %d, off at %s)" % (n, bad)))
g = got["greedy"]
print(("PASS" if g == [0, 3, 3, 3, 3, 3] else "FAIL") + " generate greedy: %s" % g)
PY
