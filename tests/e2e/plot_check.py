"""plot_check.py — checks a picture of `sinter plot` (tests/e2e/plot.sh).

  plot_check.py svg FILE PANELS LEGENDS [--log-y] [--x time] [--lines N]
      FILE parses as XML with an <svg> root; its panel titles are exactly
      PANELS (comma-separated, in order); the legend texts are exactly
      LEGENDS ("run: series", comma-separated); with --lines, N polylines
      in all; --log-y: every title says "log scale" and the y ticks of the
      first panel are 1, 2, 5 times powers of ten; --x time: the x axis
      label is "time (s)".
  plot_check.py png FILE SVGFILE
      FILE is a PNG (decoded here: zlib and the five PNG filters) of the
      SVG's size, and each panel's plot area is not blank: it holds pixels
      of the series colours.

Prints "PASS name" / "FAIL name: reason" lines.
"""
import os
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

NS = "{http://www.w3.org/2000/svg}"


def texts(elem):
    return [(t.text or "") for t in elem.iter(NS + "text")]


def check_svg(report, path, panels, legends, opts):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        report("svg well-formed", False, str(e))
        return
    report("svg well-formed", root.tag == NS + "svg", f"root element {root.tag}")
    groups = [g for g in root.iter(NS + "g") if g.get("class") == "panel"]
    titles = []
    for g in groups:
        bold = [t.text for t in g.iter(NS + "text") if t.get("font-weight") == "bold"]
        titles.append(bold[0] if bold else "")
    want = panels.split(",")
    if "--log-y" in opts:
        report("titles say log scale", all(t.endswith(" (log scale)") for t in titles), f"titles {titles}")
        titles = [t[: -len(" (log scale)")] if t.endswith(" (log scale)") else t for t in titles]
    report("panels", titles == want, f"panels {titles}, expected {want}")
    legend = [t for t in texts(root) if ": " in t]
    want = legends.split(",")
    report("legend", sorted(legend) == sorted(want), f"legend {legend}, expected {want}")
    if "--lines" in opts:
        n = int(opts[opts.index("--lines") + 1])
        got = len(list(root.iter(NS + "polyline")))
        report("polylines", got == n, f"{got} polylines, expected {n}")
    if "--log-y" in opts and groups:
        ticks = [t.text for t in groups[0].iter(NS + "text") if t.get("text-anchor") == "end"]
        ok = len(ticks) >= 2
        for t in ticks:
            v = float(t)
            m = v / 10 ** __import__("math").floor(__import__("math").log10(v))
            ok = ok and any(abs(m - k) < 1e-6 for k in range(1, 10))
        report("log ticks", ok, f"y ticks {ticks}")
    if "--x" in opts:
        want = "time (s)" if opts[opts.index("--x") + 1] == "time" else "step"
        report("x label", want in texts(root), f"no x axis label {want!r}")


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                raise ValueError(f"PNG depth {depth} colour type {ctype} not handled")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def check_png(report, path, svg):
    root = ET.parse(svg).getroot()
    sw, sh = int(root.get("width")), int(root.get("height"))
    try:
        w, h, bpp, rows = read_png(path)
    except (OSError, ValueError, zlib.error) as e:
        report("png decodes", False, str(e))
        return
    report("png size", (w, h) == (sw, sh), f"{w}x{h}, the SVG is {sw}x{sh}")
    # every panel's frame (the first <rect> with a stroke in each panel)
    for k, g in enumerate(g for g in root.iter(NS + "g") if g.get("class") == "panel"):
        frame = [r for r in g.iter(NS + "rect") if r.get("stroke")][0]
        x0, y0 = float(frame.get("x")), float(frame.get("y"))
        x1, y1 = x0 + float(frame.get("width")), y0 + float(frame.get("height"))
        coloured = 0
        for y in range(int(y0) + 2, min(h, int(y1) - 1)):
            row = rows[y]
            for x in range(int(x0) + 2, min(w, int(x1) - 1)):
                r, gg, b = row[x * bpp:x * bpp + 3]
                if max(r, gg, b) - min(r, gg, b) > 60:  # a saturated pixel: a series line
                    coloured += 1
        report(f"png panel {k} not blank", coloured > 200, f"{coloured} coloured pixels in the plot area")


def main():
    report = Checks("plot ")
    if sys.argv[1] == "svg":
        check_svg(report, sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        check_png(report, sys.argv[2], sys.argv[3])
    return report.status()


if __name__ == "__main__":
    sys.exit(main())
