"""profile_check.py — checks the output of `--profile`, `--profile-summary`
and `sinter plan --svg` (tests/e2e/profile.sh).

  profile_check.py trace LABEL TRACE.json LLVM.txt IR.txt STEPS [--pool]
      TRACE parses as JSON with a traceEvents list of complete events
      (ph X: name, ts, dur, pid, tid, args); STEPS step events; in every
      run of the training step's region one kernel event per kernel call
      its function makes in LLVM.txt (`sinter llvm`; kernel functions are
      never inlined), every fused kernel of IR.txt (`sinter ir`) among
      them once, GEMM events with their M, N, K; the events inside each
      region sum to its duration within 5%, those inside each step to the
      step's within 5%; one "load batch" per step; --pool: events on a
      pool worker's track, named after a kernel of the step.
  profile_check.py summary LABEL STDERR.txt
      the --profile-summary table: rows by total time, descending; every
      GEMM row with a GFLOP/s figure, every other kernel that moves bytes
      with GB/s and no GFLOP/s.
  profile_check.py plan SVG PLAN.txt
      the picture of `sinter plan --svg` parses as XML; one panel per
      region of PLAN.txt (`sinter plan`), each with as many buffer bars as
      the region has values in its arena, each bar with a <title>; a title
      and axis labels.

Prints "PASS name" / "FAIL name: reason" lines.
"""
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

NS = "{http://www.w3.org/2000/svg}"


def step_calls(llvm, ir):
    """The step region's name, its kernel calls (LLVM) and fused kernels (IR)."""
    name, calls, body = None, 0, False
    for line in llvm.splitlines():
        m = re.match(r"define .*@(step\d+)\(", line)
        if m:
            name, body = m.group(1), True
            continue
        if body and line.startswith("}"):
            break
        if body and re.search(r"call fastcc \w+ @k\d+_", line):
            calls += 1
    # the kernel comments come before their region's line
    fused, pending = [], []
    for line in ir.splitlines():
        if line.startswith("region "):
            if line.startswith(f"region {name}("):
                fused = pending
            pending = []
        m = re.match(r"; kernel (k\d+):", line)
        if m:
            pending.append(m.group(1))
    return name, calls, fused


def inside(e, outer):
    return e["tid"] == outer["tid"] and e["ts"] >= outer["ts"] - 0.01 and \
        e["ts"] + e["dur"] <= outer["ts"] + outer["dur"] + 0.01 and e is not outer


def check_trace(report, path, llvm_path, ir_path, steps, pool):
    try:
        with open(path) as f:
            d = json.load(f)
        evs = d["traceEvents"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        report("trace parses", False, str(e))
        return
    report("trace parses", isinstance(evs, list) and len(evs) > 0, "no events")
    x = [e for e in evs if e.get("ph") == "X"]
    bad = [e for e in x if not (isinstance(e.get("name"), str) and isinstance(e.get("ts"), (int, float))
                                and isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0
                                and isinstance(e.get("pid"), int) and isinstance(e.get("tid"), int)
                                and isinstance(e.get("args"), dict))]
    report("complete events have name, ts, dur, pid, tid, args", x and not bad, f"{len(bad)} bad: {bad[:1]}")
    with open(llvm_path) as f:
        llvm = f.read()
    with open(ir_path) as f:
        ir = f.read()
    region, calls, fused = step_calls(llvm, ir)
    report("the step region has kernel calls in sinter llvm", region is not None and calls > 0,
           f"region {region}, {calls} calls")
    stepev = [e for e in x if e.get("cat") == "step"]
    report("one step event per step", len(stepev) == steps, f"{len(stepev)} step events, expected {steps}")
    runs = [e for e in x if e.get("cat") == "region" and e["name"] == region]
    report("one region event per step", len(runs) == steps, f"{len(runs)} runs of {region}, expected {steps}")
    kinds = ("kernel", "gemm", "copy")
    counts, worst, names = [], 0.0, []
    for r in runs:
        kids = [e for e in x if e.get("cat") in kinds and inside(e, r)]
        ks = [e for e in kids if e["cat"] != "copy"]
        counts.append(len(ks))
        names.append([e["name"] for e in ks])
        worst = max(worst, abs(sum(e["dur"] for e in kids) - r["dur"]) / max(r["dur"], 1e-9))
    report("one kernel event per kernel call per step", counts and all(c == calls for c in counts),
           f"kernel events per run {sorted(set(counts))}, sinter llvm has {calls} calls")
    report("kernels sum to their region within 5%", runs and worst <= 0.05, f"worst difference {worst:.1%}")
    ok = all(sum(1 for n in ns if n.split(" ")[0] == k) == 1 for ns in names for k in fused)
    report("every fused kernel of sinter ir once per step", fused and ok, f"fused {fused}, events {names[:1]}")
    gemms = [e for e in x if e.get("cat") == "gemm"]
    ok = gemms and all(
        f"gemm {g['M']}x{g['N']}x{g['K']}" in e["name"] and e["args"]["flop"] == 2 * g["M"] * g["N"] * g["K"] * g["batch"]
        for e in gemms for g in [e["args"].get("gemm", {"M": 0, "N": 0, "K": 0, "batch": 0})])
    report("GEMM events name their shape and flops", ok, f"{gemms[:1]}")
    top = ("host", "load", "compile", "region")
    worst = 0.0
    for s in stepev:
        kids = [e for e in x if e.get("cat") in top and inside(e, s)]
        worst = max(worst, abs(sum(e["dur"] for e in kids) - s["dur"]) / max(s["dur"], 1e-9))
    report("events sum to their step within 5%", stepev and worst <= 0.05, f"worst difference {worst:.1%}")
    loads = [e for e in x if e["name"] == "load batch"]
    report("one batch load per step", len(loads) == steps, f"{len(loads)} loads")
    if pool:
        workers = [e for e in x if e["tid"] != 0]
        named = {e["tid"] for e in evs if e.get("ph") == "M" and e.get("name") == "thread_name"}
        kernels = {e["name"] for e in x if e.get("cat") in kinds}
        ok = workers and all(e["tid"] in named and e["name"].startswith("pool: ") and
                             (e["name"][6:] in kernels or e["name"] == "pool: job") for e in workers)
        report("pool workers have tracks of their own, named after the kernels", ok, f"{workers[:1]}")


def check_summary(report, path):
    with open(path) as f:
        lines = f.read().splitlines()
    head = [i for i, l in enumerate(lines) if l.startswith("kernel ") and "GFLOP/s" in l]
    if not report("summary has its table", bool(head), "no header line"):
        return
    rows = []
    for l in lines[head[0] + 1:]:
        m = re.match(r"(.{56}) (\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\S+)\s+([\d.]+)\s+(\S+)\s+(\S+)$", l)
        if m:  # without MB/call: name, region, calls, total, mean, %, GFLOP/s, GB/s
            g = m.groups()
            rows.append(g[:6] + g[7:])
    report("summary rows", len(rows) >= 3, f"{len(rows)} rows")
    totals = [float(r[3]) for r in rows]
    report("summary sorted by total time", totals == sorted(totals, reverse=True), f"{totals}")
    g = [r for r in rows if " gemm " in r[0]]
    ok = g and all(re.fullmatch(r"\d+\.\d", r[6]) and float(r[6]) > 0 for r in g if float(r[4]) > 0)
    report("summary lists GEMMs with GFLOP/s", ok, f"{g[:2]}")
    o = [r for r in rows if " gemm " not in r[0] and r[7] != "-"]
    ok = o and all(re.fullmatch(r"\d+\.\d\d", r[7]) for r in o) and all(r[6] == "-" for r in o)
    report("summary gives the other kernels GB/s", ok, f"{o[:2]}")


def check_shapes(report, path):
    """Every GEMM of the summary has a shape --verbose reported for one of
    the region's products (M x N x K, transposes and bf16 operands read
    as the compiler reads them; a folded batch as B x (M x N x K))."""
    with open(path) as f:
        text = f.read()
    said = set()
    for m in re.finditer(r"gemm: region \S+ %\d+: (\d+)x(\d+)x(\d+) [NT][NT](?: x (\d+) folded)?", text):
        mm, n, k, b = m.groups()
        said.add(f"gemm {b}x({mm}x{n}x{k})" if b else f"gemm {mm}x{n}x{k}")
    shown = set(re.findall(r"^k\d+ (gemm \S+)", text, re.M))
    report("--verbose reports products", bool(said), text[:200])
    report("the summary's GEMM shapes are the products' (K of a transposed bf16 operand too)",
           bool(shown) and shown <= said, f"summary {sorted(shown)}, --verbose {sorted(said)}")


def check_plan(report, svg, plan_txt):
    with open(plan_txt) as f:
        want = re.findall(r"^region (\S+): \d+ nodes, (\d+) values in the arena", f.read(), re.M)
    try:
        root = ET.parse(svg).getroot()
    except (OSError, ET.ParseError) as e:
        report("plan svg well-formed", False, str(e))
        return
    report("plan svg well-formed", root.tag == NS + "svg", root.tag)
    panels = [g for g in root.iter(NS + "g") if g.get("class") == "panel"]
    report("plan: one panel per region", len(panels) == len(want) > 0, f"{len(panels)} panels, {len(want)} regions")
    for g, (name, n) in zip(panels, want):
        bars = [r for r in g.iter(NS + "rect") if r.get("class") == "buffer"]
        titles = [b.find(NS + "title") for b in bars]
        bold = [t.text for t in g.iter(NS + "text") if t.get("font-weight") == "bold"]
        report(f"plan {name}: a bar per arena value, each with its tooltip",
               len(bars) == int(n) and all(t is not None and t.text.startswith("%") for t in titles),
               f"{len(bars)} bars, {n} values")
        report(f"plan {name}: titled", bold and bold[0].startswith(f"region {name}:"), f"{bold[:1]}")
        labels = [t.text or "" for t in g.iter(NS + "text")]
        report(f"plan {name}: axis labels", "schedule position (node)" in labels and
               any(l.startswith("arena offset (") for l in labels), f"{labels[-3:]}")
    report("plan: a document title", root.find(NS + "title") is not None, "no <title>")


def main():
    if sys.argv[1] == "trace":
        report = Checks(f"profile {sys.argv[2]}: ")
        check_trace(report, sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), "--pool" in sys.argv[7:])
    elif sys.argv[1] == "summary":
        report = Checks(f"profile {sys.argv[2]}: ")
        check_summary(report, sys.argv[3])
    elif sys.argv[1] == "shapes":
        report = Checks(f"profile {sys.argv[2]}: ")
        check_shapes(report, sys.argv[3])
    else:
        report = Checks("profile ")
        check_plan(report, sys.argv[2], sys.argv[3])
    sys.exit(report.status())


if __name__ == "__main__":
    main()
