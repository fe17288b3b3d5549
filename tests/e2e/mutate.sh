#!/usr/bin/env bash
# tests/e2e/mutate.sh — generated bad inputs: every .sn file of tests/errors
# and tests/spec, mutated three ways (bytes flipped, truncated, a slice
# duplicated elsewhere) with a seed fixed per file and kind, is given to
# `sinter check`, which must end with exit status 0 or 1: never a signal
# (crash, abort), never another status.  timeout(1) is only a hang detector
# with a generous bound, not a speed requirement: a mutated program that
# loops forever on purpose is not expected from three small mutations.
# Prints "PASS mutate FILE.kind" / "FAIL mutate FILE.kind: reason" and keeps
# failing inputs in $MUTATE_KEEP (default /tmp/sinter-mutants) to reproduce.
set -u
. "$(dirname "$0")/../lib/common.sh"
sinter=${SINTER:-$root/sinter}
keep=${MUTATE_KEEP:-/tmp/sinter-mutants}
scratch

# the mutants sit beside links to their folder's other files (data, lib), so
# the relative paths of the originals resolve as before
for d in errors spec; do
	mkdir -p "$tmp/$d"
	for f in "$root/tests/$d"/*; do
		[[ "$f" == *.sn ]] || ln -s "$f" "$tmp/$d/"
	done
done
"$PY" - "$root" "$tmp" <<'PY'
import random, sys, zlib, glob, os
root, tmp = sys.argv[1], sys.argv[2]
for d in ("errors", "spec"):
    for path in sorted(glob.glob(f"{root}/tests/{d}/*.sn")):
        name = os.path.basename(path)[:-3]
        src = open(path, "rb").read()
        for kind in ("flip", "cut", "dup"):
            rng = random.Random(zlib.crc32(f"{d}/{name}.{kind}".encode()))
            b = bytearray(src)
            if kind == "flip":
                for _ in range(rng.randint(1, 4)):
                    i = rng.randrange(len(b))
                    b[i] ^= rng.choice([1, 2, 4, 8, 16, 32, 64, 128, rng.randrange(1, 256)])
            elif kind == "cut":
                b = b[: rng.randrange(len(b))]
            else:
                i = rng.randrange(len(b))
                j = min(len(b), i + rng.randint(1, 80))
                k = rng.randrange(len(b) + 1)
                b[k:k] = b[i:j]
            open(f"{tmp}/{d}/{name}.{kind}.sn", "wb").write(bytes(b))
PY
for m in "$tmp"/errors/*.*.sn "$tmp"/spec/*.*.sn; do
	name=$(basename "$(dirname "$m")")/$(basename "$m" .sn)
	(cd "$(dirname "$m")" && timeout -s KILL 60 "$sinter" check "$(basename "$m")" >/dev/null 2>"$tmp/err")
	rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; then
		pass "mutate $name"
		continue
	fi
	mkdir -p "$keep" && cp "$m" "$keep/$(tr / _ <<<"$name").sn"
	if [ "$rc" -eq 137 ]; then
		fail "mutate $name: no exit within 60 s (hang), kept in $keep"
	else
		fail "mutate $name: exit $rc ($( ((rc > 128)) && echo "signal $((rc - 128))" || echo "not 0 or 1")), kept in $keep: $(head -1 "$tmp/err")"
	fi
done
