#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ASan+UBSan run of the whole test suite: builds library, CLI and tests in ./build-asan (clang -O1,
# -fsanitize=address,undefined, any UBSan report aborts) and runs ctest there to the end. Any ctest
# arguments given select a subset (CI: tools/run_tests.sh passes -L sanitize). Installs clang if missing.
#   tools/run_sanitizers.sh                 # everything (about 40 min on 2 cores)
#   tools/run_sanitizers.sh -R calib_test   # one test binary
set -euo pipefail
cd "$(dirname "$0")/.."
tools/bootstrap.sh --no-build clang libclang-rt-14-dev libonnx-testdata
# shellcheck source=tools/sanitizer_env.sh
. tools/sanitizer_env.sh
configure_asan_build
cmake --build "$ASAN_DIR" -j"$(nproc)"
tools/ort/install.sh
ctest --test-dir "$ASAN_DIR" --no-tests=error --output-on-failure -j"$(nproc)" "$@"
