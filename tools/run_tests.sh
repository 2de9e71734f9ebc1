#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh libonnx-testdata nodejs npm
tools/ort/install.sh  # ONNX Runtime (npm onnxruntime-node) for the interop tests
cd build
ctest --no-tests=error --output-on-failure -j"$(nproc)"
