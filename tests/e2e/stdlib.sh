#!/usr/bin/env bash
# The standard library end to end: optimizers, schedules, activations,
# layers and losses against references computed in Python (stdlib_check.py),
# and examples/linreg.sn recovering its weights.
set -u
. "$(dirname "$0")/../lib/common.sh"
exec "$PY" "$root/tests/e2e/stdlib_check.py" --sinter "$root/sinter"
