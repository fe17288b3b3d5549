"""packed_docs.py — the checker of tests/e2e/packed_docs.sh (no
cross-contamination between packed documents), with NumPy.

    packed_docs.py make DIR                 writes DIR/random.txt (random
        documents, no newline in them) and DIR/fortunes.txt (fortunes of
        /usr/share/games/fortunes/fortunes), both "\\n%\\n"-separated, and
        prints "NAME T B" for each: the context and the rows of its batch
    packed_docs.py pieces DOCS STRATEGY T RUN OUT
        checks the batch that sinter saved in RUN/batch.safetensors against
        its own packing of DOCS (every row exactly: each piece with its
        bytes, targets, segment and position; padding), writes each piece of the
        batch as a document of OUT (with the byte it predicts last) and
        prints the number of pieces
    packed_docs.py same PACKED SOLO LABEL
        the packed run's per-position losses and gradient against the solo
        run's (each piece alone in its row): within 1e-5 relative

Prints "PASS name" / "FAIL name: reason" lines.
"""
import collections
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402
from st_read import read_safetensors  # noqa: E402

SEP = b"\n%\n"
FORTUNES = "/usr/share/games/fortunes/fortunes"
RTOL = 1e-5


def split_docs(data):
    """documents(): the parts between separators with 2 bytes or more."""
    return [d for d in data.split(SEP) if len(d) >= 2]


def has_target(off, take, length):
    return off + 1 < length or take > 1


def greedy(docs, T):
    """Rows filled in order; a document that does not fit is cut at the
    row's end and goes on in the next row.  Pieces are (doc, off, len)."""
    rows, fill = [], T
    for d, doc in enumerate(docs):
        off = 0
        while off < len(doc):
            if fill == T:
                if not has_target(off, len(doc) - off, len(doc)):
                    break
                rows.append([])
                fill = 0
            take = min(len(doc) - off, T - fill)
            if has_target(off, take, len(doc)):
                rows[-1].append((d, off, take))
                fill += take
            off += take
    return rows


def cut(docs, T):
    """Every document cut into pieces of at most T (best_fit, padded)."""
    out = []
    for d, doc in enumerate(docs):
        for off in range(0, len(doc), T):
            take = min(T, len(doc) - off)
            if has_target(off, take, len(doc)):
                out.append((d, off, take))
    return out


def best_fit(docs, T):
    """Best-fit decreasing over the cut pieces, longest first (ties in
    order), each into the open row with the least room that takes it;
    among rows with equal room, the one that got that room last."""
    pieces = sorted(cut(docs, T), key=lambda p: -p[2])
    rows, room, by_room = [], [], collections.defaultdict(list)
    for p in pieces:
        fits = [c for c in range(p[2], T) if by_room[c]]
        if fits:
            r = by_room[fits[0]].pop()
        else:
            r = len(rows)
            rows.append([])
            room.append(T)
        rows[r].append(p)
        room[r] -= p[2]
        if room[r] > 0:
            by_room[room[r]].append(r)
    return rows


def pack(docs, T, strategy):
    """The rows of one unshuffled pass."""
    if strategy == "greedy":
        return greedy(docs, T)
    if strategy == "best_fit":
        return best_fit(docs, T)
    return [[p] for p in cut(docs, T)]


def splits(rows):
    """Documents cut into two or more pieces."""
    return sum(1 for n in collections.Counter(p[0] for row in rows for p in row).values() if n > 1)


def piece_key(docs, p):
    d, off, n = p
    doc = docs[d]
    x = bytes(doc[off:off + n])
    y = tuple(doc[i + 1] if i + 1 < len(doc) else -1 for i in range(off, off + n))
    return x, y


def decode(batch, report, what):
    """The pieces of a saved batch, row by row: (row, start, x bytes, y)."""
    x, y = batch["x"].astype(np.int64), batch["y"].astype(np.int64)
    seg, pos = batch["segment"].astype(np.int64), batch["position"].astype(np.int64)
    B, T = x.shape
    pieces, ok, why = [], True, ""
    for r in range(B):
        t, s = 0, 0
        while t < T and seg[r, t] >= 0:
            start = t
            while t < T and seg[r, t] == s:
                t += 1
            if not all(pos[r, start + i] == i for i in range(t - start)):
                ok, why = False, f"row {r}: positions of segment {s} are {pos[r, start:t].tolist()}"
            pieces.append((r, start, bytes(x[r, start:t].tolist()), tuple(y[r, start:t].tolist())))
            s += 1
        pad = slice(t, T)
        if not ((seg[r, pad] == -1).all() and (y[r, pad] == -1).all() and (x[r, pad] == 0).all()
                and (pos[r, pad] == 0).all()):
            ok, why = False, f"row {r}: the padding from {t} is not x 0, y -1, segment -1, position 0"
    report(f"{what} segments and padding", ok, why)
    return pieces


def make(out):
    rng = random.Random(15)
    alphabet = [b for b in range(256) if b != 10]
    docs = [bytes(rng.choice(alphabet) for _ in range(n)) for n in [70, 2, 13, 31, 5, 40, 9, 3, 22, 17, 33, 8]]
    with open(os.path.join(out, "random.txt"), "wb") as f:
        f.write(SEP.join(docs) + SEP)
    print("random 32 8")
    with open(FORTUNES, "rb") as f:
        fortunes = split_docs(f.read())
    # a few short ones, some medium, two longer than T = 64
    short = [d for d in fortunes if 10 <= len(d) <= 40][:4]
    mid = [d for d in fortunes if 41 <= len(d) <= 63][:3]
    long_ = [d for d in fortunes if 65 <= len(d) <= 150][:2]
    chosen = [long_[0], short[0], mid[0], short[1], mid[1], long_[1], short[2], mid[2], short[3]]
    with open(os.path.join(out, "fortunes.txt"), "wb") as f:
        f.write(SEP.join(chosen))
    print("fortunes 64 8")


def pieces_cmd(docs_path, strategy, T, run, out):
    report = Checks(f"packed_docs {os.path.basename(run)} ")
    with open(docs_path, "rb") as f:
        docs = split_docs(f.read())
    batch = read_safetensors(os.path.join(run, "batch.safetensors"))
    got = decode(batch, report, "packed")
    want_rows = pack(docs, T, strategy)
    want = [(r, sum(q[2] for q in row[:j])) + piece_key(docs, p)
            for r, row in enumerate(want_rows) for j, p in enumerate(row)]
    report(f"{strategy} rows", got == want,
           f"{len(got)} pieces in the batch, {len(want)} expected; first difference at "
           f"{next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))}")
    solo = []
    for _, _, x, y in got:
        solo.append(x + (bytes([y[-1]]) if y[-1] >= 0 else b""))
    text = SEP.join(solo)
    ok = split_docs(text) == solo
    report("solo file", ok, "a piece makes the separator appear across its boundary")
    with open(out, "wb") as f:
        f.write(text)
    print(f"NPIECES {len(solo)}")
    return report.status()


def same_cmd(packed, solo, label):
    report = Checks(f"packed_docs {label} ")
    pb = read_safetensors(os.path.join(packed, "batch.safetensors"))
    sb = read_safetensors(os.path.join(solo, "batch.safetensors"))
    pieces = decode(pb, report, "packed")
    decode(sb, report, "solo")
    worst, bad, n = 0.0, None, 0
    ok_targets = True
    for i, (r, start, x, y) in enumerate(pieces):
        k = len(x)
        if bytes(sb["x"][i, :k].astype(np.int64).tolist()) != x or \
                tuple(sb["y"][i, :k].astype(np.int64).tolist()) != y:
            ok_targets = False
        a = pb["loss"][r, start:start + k].astype(np.float64)
        b = sb["loss"][i, :k].astype(np.float64)
        live = np.array(y) >= 0
        if (a[~live] != 0).any():
            ok_targets = False
        err = np.abs(a - b) / np.maximum(np.abs(b), 1e-30)
        n += int(live.sum())
        if err[live].size and err[live].max() > worst:
            worst, bad = float(err[live].max()), (r, start, i)
    report("solo rows hold the pieces", ok_targets, "a solo row differs from its piece, or an ignored loss is not 0")
    report(f"per-position losses ({n} targets) within {RTOL}", worst <= RTOL,
           f"worst relative difference {worst:.3g} (packed row, start, piece {bad})")
    print(f"# worst loss difference {worst:.3g} relative over {n} targets")
    pg = read_safetensors(os.path.join(packed, "grad.safetensors"))
    sg = read_safetensors(os.path.join(solo, "grad.safetensors"))
    gworst, gname = 0.0, ""
    for name, b in sg.items():
        a = pg[name].astype(np.float64)
        b = b.astype(np.float64)
        scale = np.abs(b).max()
        e = np.abs(a - b).max() / scale if scale > 0 else np.abs(a).max()
        if e > gworst:
            gworst, gname = e, name
    report(f"gradients of {len(sg)} parameters within {RTOL}", gworst <= RTOL and len(pg) == len(sg),
           f"worst: {gname}, max |packed - solo| / max |solo| = {gworst:.3g}")
    print(f"# worst gradient difference {gworst:.3g} (of the tensor's largest magnitude), {gname}")
    return report.status()


def main():
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
        return 0
    if cmd == "pieces":
        return pieces_cmd(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
    return same_cmd(sys.argv[2], sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    sys.exit(main())
