#!/usr/bin/env bash
# tests/e2e/gpt_tokens.sh — language models end to end, outside the big
# example: the GPT of gpt_tokens.sn on a token file with V = 1000 (tokens
# with vocab =, split, generate with token-id prompts, determinism of the
# samples), a token outside the vocabulary (the error names the file and the
# position), and text() of a directory, split and generate on strings with a
# small program written here.  Prints "PASS name" / "FAIL name: reason".
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=$root/sinter
scratch

# tok.bin: the 20-token cycle 37k + 11 (k = 0..19) repeated, N tokens, with
# token 1000 (outside V) at position BAD if BAD >= 0
write_tokens() {
	"$PY" - "$@" <<'PY'
import struct, sys
path, n, bad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
toks = [37 * (i % 20) + 11 for i in range(n)]
if bad >= 0:
    toks[bad] = 1000
head = [20240520, 1, n] + [0] * 253
open(path, "wb").write(struct.pack("<256i", *head) + struct.pack("<%dH" % n, *toks))
PY
}

write_tokens "$tmp/tok.bin" 2000 -1
"$sinter" run "$root/tests/e2e/gpt_tokens.sn" -D TOKENS="$tmp/tok.bin" >"$tmp/a.out" 2>"$tmp/a.err"
echo $? >"$tmp/a.rc"
"$sinter" run "$root/tests/e2e/gpt_tokens.sn" -D TOKENS="$tmp/tok.bin" >"$tmp/b.out" 2>&1
echo $? >"$tmp/b.rc"
write_tokens "$tmp/bad.bin" 2000 1234
"$sinter" run "$root/tests/e2e/gpt_tokens.sn" -D TOKENS="$tmp/bad.bin" >/dev/null 2>"$tmp/bad.err"
echo $? >"$tmp/bad.rc"

# a directory of text files, read as one text
mkdir "$tmp/dir"
printf 'Zebras first: upper case sorts before lower case.\n%%\n' >"$tmp/dir/Zeta"
printf 'Then the alpha file, one fortune.\n%%\nAnd another.\n%%\n' >"$tmp/dir/alpha"
printf 'binary index' >"$tmp/dir/alpha.dat"
ln -s alpha "$tmp/dir/alpha.u8"
cat >"$tmp/text.sn" <<'SN'
const DIR = "."
const T = 8
model Gpt(V, T, C, L, H) {
  wte = Embedding(V, C)
  wpe = Embedding(T, C)
  blocks = [Block(C, H); L]
  ln_f = LayerNorm(C)
  fn call(idx: i32[B, T]) -> f32[B, T, V] {
    let x = wte(idx) + wpe(arange(T))
    for blk in blocks { x = blk(x) }
    return ln_f(x) @ wte.weight.T
  }
}
train {
  let data = text(DIR, context = T)
  let a, b = split(data, 0.75)
  print("lens", len(data), len(a), len(b))
  for x, y in batches(b, 1) { print("val0", x[0], y[0]) }
  let net = Gpt(256, T, 16, 1, 2)
  # sampled bytes may be newlines: print facts about the strings, not them
  let g = generate(net, "The", 20, temperature = 0)
  print("greedy_len", len(g))
  print("top1_is_greedy", generate(net, "The", 20, top_k = 1) == g)
  print("samples_differ", generate(net, "The", 20) != generate(net, "The", 20))
}
SN
# only the first validation batch matters: keep the output short
"$sinter" run "$tmp/text.sn" -D DIR="$tmp/dir" 2>"$tmp/text.err" | awk '!/^val0/ || !seen++' >"$tmp/text.out"
echo "${PIPESTATUS[0]}" >"$tmp/text.rc"

"$PY" - "$tmp" "$root/tests/lib" <<'PY'
import math, os, sys
tmp = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from checks import Checks
V, T, N = 1000, 16, 2000
cycle = [37 * k + 11 for k in range(20)]

report = Checks()

def lines(path):
    out = {}
    for line in open(path, encoding="latin-1"):
        f = line.split(None, 1)
        if f:
            out.setdefault(f[0], []).append(f[1].strip() if len(f) > 1 else "")
    return out

def ints(s):
    return [int(t) for t in s.strip("[]").split(",")]

rc = open(os.path.join(tmp, "a.rc")).read().strip()
err = open(os.path.join(tmp, "a.err")).read()
if rc != "0":
    report("gpt_tokens runs", False, "exit %s: %s" % (rc, err.strip().splitlines()[-1:]))
    sys.exit(0)
out = lines(os.path.join(tmp, "a.out"))
n = N - T
k = math.floor(0.8 * n)
report("gpt_tokens split sizes", out["sizes"] == ["%d %d %d" % (n, k, n - k - T)], "got %s" % out["sizes"])
losses = [float(l.split()[1]) for l in out["loss"]]
report("gpt_tokens first loss near ln(V)", abs(losses[0] - math.log(V)) < 0.3,
       "%.4f vs ln(%d) = %.4f" % (losses[0], V, math.log(V)))
report("gpt_tokens learns the cycle", losses[-1] < 0.5 and float(out["val"][0]) < 0.5,
       "last train loss %.4f, validation %.4f" % (losses[-1], float(out["val"][0])))
greedy = ints(out["greedy"][0])
want = [cycle[i % 20] for i in range(27)]
report("gpt_tokens greedy generation continues the cycle", greedy == want, "got %s" % greedy)
report("gpt_tokens top_k = 1 is greedy", ints(out["top1"][0]) == greedy, "got %s" % out["top1"][0])
sample = ints(out["sample"][0])
report("gpt_tokens sample: prompt, then 24 ids in the vocabulary",
       len(sample) == 27 and sample[:3] == cycle[:3] and all(0 <= t < V for t in sample), "got %s" % sample)
longer = ints(out["long"][0])
report("gpt_tokens prompt longer than T", longer == cycle + cycle[:4], "got %s" % longer)
b_rc = open(os.path.join(tmp, "b.rc")).read().strip()
report("gpt_tokens same seed, same output (samples included)",
       b_rc == "0" and open(os.path.join(tmp, "a.out")).read() == open(os.path.join(tmp, "b.out")).read(),
       "second run exit %s, or outputs differ" % b_rc)

bad_rc = open(os.path.join(tmp, "bad.rc")).read().strip()
bad_err = open(os.path.join(tmp, "bad.err")).read()
want_msg = "'%s': token 1000 at position 1234 is outside the vocabulary (V = 1000)" % os.path.join(tmp, "bad.bin")
report("gpt_tokens token outside the vocabulary", bad_rc == "1" and want_msg in bad_err
       and "gpt_tokens.sn:" in bad_err.splitlines()[0], "exit %s: %s" % (bad_rc, bad_err.strip()[:300]))

# text(directory): Zeta, then alpha (byte order); .dat and .u8 left out
d = os.path.join(tmp, "dir")
body = open(os.path.join(d, "Zeta"), "rb").read() + open(os.path.join(d, "alpha"), "rb").read()
tout = lines(os.path.join(tmp, "text.out"))
terr = open(os.path.join(tmp, "text.err")).read().strip()
text_rc = open(os.path.join(tmp, "text.rc")).read().strip()
if "lens" not in tout or text_rc != "0":
    report("text directory runs", False, "exit %s: %s" % (text_rc, terr[-300:]))
    sys.exit(0)
t = 8
n = len(body) - t
k = math.floor(0.75 * n)
report("text directory: length and split", tout["lens"] == ["%d %d %d" % (n, k, n - k - t)],
       "got %s, expected %d %d %d" % (tout["lens"], n, k, n - k - t))
x0, y0 = tout["val0"][0].split("] [")
start = k + t  # the gap: the first validation window starts T bytes after the training text
report("text directory: validation starts T bytes after the training text",
       ints(x0) == list(body[start:start + t]) and ints(y0) == list(body[start + 1:start + t + 1]),
       "got %s" % tout["val0"][0])
# the untrained model may sample a NUL byte, which the string leaves out
report("generate string: prompt plus 20 bytes", 3 < int(tout["greedy_len"][0]) <= 23, "length %s" % tout["greedy_len"])
report("generate string: top_k = 1 is greedy", tout["top1_is_greedy"] == ["true"], "got %s" % tout["top1_is_greedy"])
report("generate string: two calls draw different samples", tout["samples_differ"] == ["true"],
       "got %s" % tout["samples_differ"])
PY
