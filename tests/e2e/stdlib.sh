#!/usr/bin/env bash
# The standard library end to end: optimizers, schedules, activations,
# layers and losses against references computed in Python (stdlib_check.py),
# and examples/linreg.sn recovering its weights.
set -u
exec /usr/bin/python3 tests/e2e/stdlib_check.py --sinter ./sinter
