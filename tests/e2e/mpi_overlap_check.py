"""Checks a --profile trace of 2-rank training (tests/e2e/mpi_overlap.sh):
in every step after the first, some gradient bucket's all-reduce starts
before the wait at the update, and kernels of the backward run between its
start and that wait: communication overlaps computation."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from checks import Checks  # noqa: E402

c = Checks("mpi_overlap ")
d = json.load(open(sys.argv[1]))
ev = d["traceEvents"] if isinstance(d, dict) else d
steps = sorted((e for e in ev if e.get("cat") == "step"), key=lambda e: e["ts"])
comm = [e for e in ev if e.get("cat") == "comm"]
kern = [e for e in ev if e.get("cat") in ("kernel", "gemm") and e.get("tid") == 0]
c("the trace has steps", len(steps) >= 3, f"{len(steps)} steps")
c("the trace has all-reduce bucket events", any(e["name"].startswith("all-reduce bucket") for e in comm),
  f"{len(comm)} comm events")
overlapped = 0
for s in steps[1:]:
    lo, hi = s["ts"], s["ts"] + s["dur"]
    waits = [e for e in comm if e["name"] == "all-reduce wait" and lo <= e["ts"] <= hi]
    if not waits:
        continue
    w = min(e["ts"] for e in waits)
    early = [e for e in comm if e["name"].startswith("all-reduce bucket") and lo <= e["ts"] < w]
    if any(any(b["ts"] < k["ts"] and k["ts"] + k["dur"] <= w for k in kern) for b in early):
        overlapped += 1
c(f"every step after the first overlaps a bucket's all-reduce with backward kernels ({overlapped})",
  overlapped == len(steps) - 1 and overlapped > 0, f"{overlapped} of {len(steps) - 1} steps")
sys.exit(c.status())
