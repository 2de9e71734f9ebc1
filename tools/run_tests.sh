#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(libonnx-testdata chromium)  # chromium: the --html report's headless-browser test
command -v node >/dev/null && command -v npm >/dev/null || extra+=(nodejs npm)  # for the ONNX Runtime tests
tools/bootstrap.sh "${extra[@]}"
tools/ort/install.sh  # ONNX Runtime (npm onnxruntime-node) for the interop tests
cd build
ctest --no-tests=error --output-on-failure -j"$(nproc)"
