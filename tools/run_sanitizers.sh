#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ASan+UBSan run of the test suite: builds library, CLI and tests in ./build-asan (clang -O1,
# -fsanitize=address,undefined; any UBSan report aborts the test) and runs ctest there to the end.
#   tools/run_sanitizers.sh                 # everything (all test executables, interop included)
#   tools/run_sanitizers.sh --ci            # the `sanitize` subset CI runs (tests/CMakeLists.txt)
#   tools/run_sanitizers.sh -R calib_test   # further arguments go to ctest
# Installs clang (and the ONNX Runtime test dependency) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
subset=0
if [ "${1:-}" = --ci ]; then subset=1; shift; fi
tools/bootstrap.sh --no-build clang libclang-rt-14-dev libonnx-testdata
# shellcheck source=tools/sanitizer_env.sh
. tools/sanitizer_env.sh
configure_asan_build
if [ "$subset" -eq 1 ]; then
  targets=$(sed -n 's/^set(PTQ_SANITIZE_SUBSET \(.*\))$/\1/p' tests/CMakeLists.txt)
  # shellcheck disable=SC2086
  cmake --build "$ASAN_DIR" -j"$(nproc)" --target quantize $targets
  ctest --test-dir "$ASAN_DIR" --no-tests=error --output-on-failure -j"$(nproc)" -L sanitize "$@"
else
  cmake --build "$ASAN_DIR" -j"$(nproc)"
  tools/ort/install.sh
  ctest --test-dir "$ASAN_DIR" --no-tests=error --output-on-failure -j"$(nproc)" "$@"
fi
