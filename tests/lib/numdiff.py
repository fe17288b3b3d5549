#!/usr/bin/python3
"""numdiff.py — do two outputs agree, numbers within a tolerance?

    numdiff.py A B [--rtol R] [--atol A] [--lines REGEX] [--drop REGEX]
                   [--names NAME_A NAME_B] [--count N]

A and B are files (a process substitution <(...) will do).  Their text
must be the same once every number is taken out, and the numbers must
pair up and agree: |a - b| <= atol, or |a - b| <= rtol * max(|a|, |b|);
nan matches nan only.  --lines keeps only the lines matching REGEX (for
example '^loss '), --drop removes what matches REGEX from every line
first (for example the "time" fields of a JSON-lines log), --count
requires exactly N kept lines in each.  Defaults: rtol 1e-4, atol 1e-6.

Exits 0 and prints "N numbers, worst relative difference X" when they
agree; else exits 1 and prints one line saying where they part (the
first difference of text, of length, or the first number off), naming
the sides NAME_A and NAME_B (default "a" and "b").  The e2e tests and
bench call it through numdiff() of tests/lib/common.sh; Python checkers
can import compare() from here.
"""
import argparse
import re
import sys

NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b")


def lines_of(path, keep=None, drop=None):
    """The lines of a file, those matching keep only, drop's matches removed."""
    out = []
    for line in open(path, errors="replace").read().splitlines():
        if keep is not None and not keep.search(line):
            continue
        out.append(drop.sub("", line) if drop is not None else line)
    return out


def compare(la, lb, rtol=1e-4, atol=1e-6, names=("a", "b")):
    """(ok, message) for two lists of lines, as the module says."""
    a, b = "\n".join(la), "\n".join(lb)
    na, nb = NUMBER.findall(a), NUMBER.findall(b)
    if NUMBER.split(a) != NUMBER.split(b) or len(na) != len(nb):
        for i, (x, y) in enumerate(zip(la, lb)):
            if NUMBER.sub("#", x) != NUMBER.sub("#", y):
                return False, f"text differs at line {i + 1}: {names[0]} '{x[:80]}' vs {names[1]} '{y[:80]}'"
        return False, f"outputs differ in length: {len(la)} vs {len(lb)} lines"
    worst = 0.0
    for i, (x, y) in enumerate(zip(na, nb)):
        fx, fy = float(x), float(y)
        if fx != fx or fy != fy:
            if (fx != fx) != (fy != fy):
                return False, f"number {i + 1}: {x} vs {y}"
            continue
        err = abs(fx - fy)
        if err > atol and err > rtol * max(abs(fx), abs(fy)):
            return False, (f"number {i + 1}: {names[0]} {x} vs {names[1]} {y} "
                           f"(relative error {err / max(abs(fx), abs(fy)):.2e})")
        if err > atol:
            worst = max(worst, err / max(abs(fx), abs(fy), 1e-30))
    return True, f"{len(na)} numbers, worst relative difference {worst:.1e}"


def main():
    ap = argparse.ArgumentParser(description="compare the numbers of two outputs")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--lines", help="keep only the lines matching this regex")
    ap.add_argument("--drop", help="remove what matches this regex from every line")
    ap.add_argument("--names", nargs=2, default=("a", "b"))
    ap.add_argument("--count", type=int, help="each side must keep exactly this many lines")
    o = ap.parse_args()
    keep = re.compile(o.lines) if o.lines else None
    drop = re.compile(o.drop) if o.drop else None
    la, lb = lines_of(o.a, keep, drop), lines_of(o.b, keep, drop)
    if o.count is not None and (len(la) != o.count or len(lb) != o.count):
        print(f"expected {o.count} lines each, got {len(la)} ({o.names[0]}) and {len(lb)} ({o.names[1]})")
        return 1
    ok, msg = compare(la, lb, o.rtol, o.atol, o.names)
    print(msg)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
