#!/usr/bin/env bash
# tests/fuzz/seeds.sh DIR — writes the seed corpora of the fuzz targets into
# DIR/<target>/: every .sn program of the tests, examples and standard
# library (check), the IR of tests/lit (ir), the IDX and token files of the
# tests (idx: images and labels packed behind a 4-byte length, see
# tests/fuzz/targets.c; tokens: token and text files), the CSV files of the
# tests (csv) and a few small safetensors files written here (safetensors).
set -eu
cd "$(dirname "$0")/../.."
out=$1
mkdir -p "$out"/{check,ir,safetensors,idx,tokens,csv}
i=0
for f in tests/errors/*.sn tests/spec/*.sn tests/spec/lib/*.sn tests/grad/*.sn tests/e2e/*.sn \
	tests/lit/*.sn examples/*.sn stdlib/*.sn; do
	# not the programs reading the big installed data sets: a seed that
	# takes seconds slows every mutant of it as much
	[ -f "$f" ] && ! grep -q '/usr/share/' "$f" && cp "$f" "$out/check/$((i++))-$(basename "$f")"
done
for f in tests/lit/*.ir; do
	cp "$f" "$out/ir/"
done
cp tests/errors/data/oov-tokens.bin tests/spec/data/tiny.txt "$out/tokens/"
cp tests/errors/data/*.csv tests/spec/data/*.csv "$out/csv/"
/usr/bin/python3 - tests/errors/data "$out" <<'PY'
import json, struct, sys
data, out = sys.argv[1], sys.argv[2]
for p in ("tiny", "bad", "short"):
    for l in ("tiny", "bad", "short"):
        img = open(f"{data}/{p}-images-idx3-ubyte", "rb").read()
        lab = open(f"{data}/{l}-labels-idx1-ubyte", "rb").read()
        open(f"{out}/idx/{p}-{l}", "wb").write(struct.pack("<I", len(img)) + img + lab)
toks = [(i * 7) % 1000 for i in range(40)]
head = [20240520, 1, len(toks)] + [0] * 253
open(f"{out}/tokens/good-tokens.bin", "wb").write(
    struct.pack("<256i", *head) + struct.pack("<%dH" % len(toks), *toks) + b"\x07")
def write(path, tensors, meta=None):
    head, blob = {}, b""
    if meta:
        head["__metadata__"] = meta
    for name, (dt, shape, vals) in tensors.items():
        fmt = "<%d%s" % (len(vals), "f" if dt == "F32" else "i")
        data = struct.pack(fmt, *vals)
        head[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(head).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + blob)
d = out + "/safetensors"
write(d + "/one.safetensors", {"w": ("F32", [2, 3], [1, 2, 3, 4, 5, 6])})
write(d + "/two.safetensors", {"layer.b": ("F32", [3], [0.5, -1, 2]), "step": ("I32", [], [7])})
write(d + "/meta.safetensors", {"a.b.c": ("F32", [1, 1, 1], [3])}, {"step": "12", "format": "pt"})
PY
echo "seeds: $(for t in check ir safetensors idx tokens csv; do printf '%s %s  ' $t "$(ls "$out/$t" | wc -l)"; done)"
