#!/usr/bin/env bash
# tests/e2e/torch_lenet.sh — examples/lenet.sn (LeNet-5) against PyTorch,
# on native code and on the reference interpreter: torch_resnet.sh with
# the other example (see there, and torch_convnet.py).
exec bash "$(dirname "$0")/torch_resnet.sh" lenet
