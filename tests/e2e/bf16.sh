#!/usr/bin/env bash
# tests/e2e/bf16.sh — the bf16 dtype (LANGUAGE.md §6.3) against PyTorch's
# torch.bfloat16 and the JIT against the interpreter: tests/spec/bf16.sn's
# casts and operations (bf16_check.py spec, line by line), the same output
# from sinter run, --interp and a built binary, BF16 safetensors written by
# sinter read with torch's rounding and written by torch loaded by sinter,
# and tests/spec/bf16_train.sn replayed in PyTorch from its initial weights.
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=${SINTER:-$root/sinter}
scratch
need_py() { "$PY" -c 'import torch, numpy' 2>/dev/null || { fail "torch: $PY cannot import torch and numpy"; exit 1; }; }
need_py
spec=$root/tests/spec
chk=$root/tests/e2e/bf16_check.py

# the spec program: JIT, interpreter and a built binary print the same bits
"$sinter" run "$spec/bf16.sn" >"$tmp/jit.out" 2>"$tmp/jit.err"
check run_status test -s "$tmp/jit.out" -a ! -s "$tmp/jit.err"
"$sinter" run "$spec/bf16.sn" --interp >"$tmp/interp.out" 2>&1
check jit_equals_interp cmp -s "$tmp/jit.out" "$tmp/interp.out"
if "$sinter" build "$spec/bf16.sn" -o "$tmp/bf16bin" >"$tmp/build.err" 2>&1; then
	"$tmp/bf16bin" >"$tmp/bin.out" 2>&1
	check build_equals_run cmp -s "$tmp/jit.out" "$tmp/bin.out"
else
	fail "build_equals_run: sinter build failed: $(head -1 "$tmp/build.err")"
fi
"$PY" "$chk" spec "$tmp/jit.out"

# save(dtype = "bf16"): the file's BF16 bits are torch's rounding of the f32
# parameters, which an f32 save of the same model holds
cat >"$tmp/save.sn" <<'SN'
const OUT = "x"
model M {
  param w: f32[5, 7] = normal(std = 3.0)
  param b: f32[7] = uniform(-1e-3, 1e-3)
}
train {
  let m = M()
  save(m, OUT + ".f32")
  save(m, OUT, dtype = "bf16")
  load(m, OUT)
  save(m, OUT + ".back")
}
SN
"$sinter" run "$tmp/save.sn" -D OUT="$tmp/m.safetensors" >"$tmp/save.out" 2>&1
check save_runs test ! -s "$tmp/save.out"
"$PY" - "$tmp/m.safetensors" <<'PYEOF'
import json, struct, sys
import numpy as np
p = sys.argv[1]
raw = open(p + ".f32", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
out = {k: np.frombuffer(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], "<f4").reshape(e["shape"]).tolist()
       for k, e in hdr.items() if k != "__metadata__"}
json.dump(out, open(p + ".json", "w"))
PYEOF
"$PY" "$chk" read "$tmp/m.safetensors"
# load widens BF16 exactly: saving the loaded model as f32 gives the bf16 values
"$PY" - "$tmp/m.safetensors" <<'PYEOF' && pass "bf16 load_widens_exactly" || fail "bf16 load_widens_exactly"
import json, struct, sys
import numpy as np, torch
p = sys.argv[1]
raw = open(p + ".back", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
want = json.load(open(p + ".json"))
for k, e in hdr.items():
    if k == "__metadata__":
        continue
    got = np.frombuffer(raw[8 + n + e["data_offsets"][0]:8 + n + e["data_offsets"][1]], "<f4")
    ref = torch.tensor(want[k]).flatten().bfloat16().float().numpy()
    assert e["dtype"] == "F32" and (got == ref).all(), k
PYEOF

# a BF16 file torch wrote, NaN and rounding edges included, loaded by sinter
"$PY" "$chk" write "$tmp/t.safetensors" >"$tmp/torch.txt"
cat >"$tmp/load.sn" <<'SN'
const IN = "x"
model M {
  param weight: f32[2, 3]
  param bias: f32[3]
}
train {
  let m = M()
  load(m, IN)
  print("weight", m.weight)
  print("bias", m.bias)
}
SN
"$sinter" run "$tmp/load.sn" -D IN="$tmp/t.safetensors" >"$tmp/load.out" 2>&1
"$PY" - "$tmp/load.out" "$tmp/torch.txt" <<'PYEOF' && pass "bf16 load_torch_file" || fail "bf16 load_torch_file: $(cat "$tmp/load.out" | head -3)"
import re, sys, math
import numpy as np
num = re.compile(r"-?(?:\d+\.?\d*(?:e[+-]?\d+)?|inf)|nan")
got = {l.split()[0]: [float(v) for v in num.findall(l.split(" ", 1)[1])] for l in open(sys.argv[1])}
want = {l.split()[0]: [float(v) for v in l.split()[1:]] for l in open(sys.argv[2])}
assert got.keys() == want.keys(), (got, want)
for k in want:
    # f32 text reads back as the same f32: compare as f32
    same = lambda a, b: np.float32(a) == np.float32(b) or (math.isnan(a) and math.isnan(b))
    assert len(got[k]) == len(want[k]) and all(same(a, b) for a, b in zip(got[k], want[k])), (k, got[k], want[k])
PYEOF

# minimize takes a bf16 loss (as loss.backward() does) and steps in f32:
# the loss is bf16(0.3) = 0.30078125, the gradient 0.1 reaches w unrounded
cat >"$tmp/loss.sn" <<'SN'
model M {
  param w: f32[3] = ones
}
train {
  let m = M()
  let opt = sgd(lr = 0.5)
  print(minimize(opt, bf16(sum(m.w * 0.1))), m.w)
}
SN
expect bf16_loss_minimize "0.30078125 [0.95, 0.95, 0.95]" "$sinter" run "$tmp/loss.sn"
expect bf16_loss_minimize_interp "0.30078125 [0.95, 0.95, 0.95]" "$sinter" run "$tmp/loss.sn" --interp

# training through bf16 casts, replayed in PyTorch
"$sinter" run "$spec/bf16_train.sn" -D INIT="$tmp/init.safetensors" >"$tmp/train.out" 2>"$tmp/train.err"
check train_runs test ! -s "$tmp/train.err"
"$PY" "$chk" replay "$tmp/train.out" "$tmp/init.safetensors"
"$sinter" run "$spec/bf16_train.sn" -D INIT="$tmp/init2.safetensors" --interp >"$tmp/train_interp.out" 2>&1
check train_jit_equals_interp cmp -s "$tmp/train.out" "$tmp/train_interp.out"
