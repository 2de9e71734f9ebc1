#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the main job on the bundled default: quantizes the
# Fashion-MNIST CNN in models/ with the calibration samples in calibration/fmnist (static INT8, default
# method),
# then reports FP32 vs INT8 on the held-out test set (1000 labelled images).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh
mkdir -p build/out
build/tools/quantize models/fmnist_cnn.onnx \
  --calib calibration/fmnist \
  --eval-data models/fmnist_test --labels models/fmnist_test/labels.npy \
  -o build/out/fmnist_cnn.int8.onnx --report build/out/fmnist_cnn.int8.report.json
