#!/usr/bin/env bash
# passes_diff_interp.sh — passes_diff.sh on the reference interpreter: the
# programs that run in a few seconds there print the same with every pass
# switched off as with the whole pipeline (passes_diff.sh checks the same
# on native code for every program).
cd "$(dirname "$0")/../.." || exit 1
FLAGS=--interp PROGRAMS="examples/linreg.sn tests/e2e/determinism.sn tests/e2e/numpy_mlp.sn tests/e2e/torch_gpt.sn tests/e2e/torch_pool.sn
	tests/spec/optimizers.sn tests/spec/train_block.sn tests/spec/adamw_stdlib.sn" exec tests/e2e/passes_diff.sh
