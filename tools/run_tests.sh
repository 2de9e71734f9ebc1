#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh libonnx-testdata
cd build
ctest --no-tests=error --output-on-failure -j"$(nproc)"
