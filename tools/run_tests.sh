#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what is missing, builds, and runs the whole test suite, then the sanitizer subset and a
# short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(libonnx-testdata chromium)  # chromium: the --html report's headless-browser test
command -v node >/dev/null && command -v npm >/dev/null || extra+=(nodejs npm)  # for the ONNX Runtime tests
tools/bootstrap.sh "${extra[@]}"
tools/ort/install.sh  # ONNX Runtime (npm onnxruntime-node) for the interop tests
ctest --test-dir build --no-tests=error --output-on-failure -j"$(nproc)"
# Sanitizers and fuzzing (README: Sanitizers and fuzzing): the ASan+UBSan run of the `sanitize` subset in
# ./build-asan, then every fuzz target over its seed corpus and for 15 s more (fixed seed). Set
# PTQ_SKIP_SANITIZERS=1 to leave them out of a local run.
if [ "${PTQ_SKIP_SANITIZERS:-0}" != 1 ]; then
  tools/run_sanitizers.sh --ci
  for target in model tensor image calib_table; do
    tools/fuzz.sh "$target" 15 -seed=1
  done
fi
