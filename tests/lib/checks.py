"""checks.py — the PASS/FAIL lines of the Python checkers (tests/e2e/*_check.py,
tests/unit/safetensors_check.py, ...): one object counts the failures,
so that a checker exits 1 when any check failed.

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    from checks import Checks
    report = Checks("spec ")       # prefix of every name
    report("name", ok, "why")      # prints "PASS spec name" / "FAIL spec name: why"; returns ok
    sys.exit(report.status())
"""


class Checks:
    def __init__(self, prefix=""):
        self.prefix = prefix
        self.failures = 0

    def __call__(self, name, ok, why=""):
        if ok:
            print(f"PASS {self.prefix}{name}")
        else:
            self.failures += 1
            print(f"FAIL {self.prefix}{name}: {why}")
        return ok

    def status(self):
        """The exit status: 1 when a check failed."""
        return 1 if self.failures else 0
