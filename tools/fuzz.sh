#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds and runs one libFuzzer target (tests/fuzz/fuzz_TARGET.cpp) for SECONDS, single process:
#   tools/fuzz.sh model|tensor|image|calib_table SECONDS [libFuzzer flags...]
# It mutates the seed corpus tests/fuzz/corpus/TARGET (read only) into build-asan/fuzz/TARGET; a crash is
# written to build-asan/fuzz/TARGET-crash-<hash> and the script fails. SECONDS=0 only runs the seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags...]" >&2; exit 2; }
target=$1 seconds=$2
shift 2
[ -f "tests/fuzz/fuzz_$target.cpp" ] || { echo "fuzz.sh: no target '$target' (tests/fuzz/fuzz_$target.cpp)" >&2; exit 2; }
tools/bootstrap.sh --no-build clang libclang-rt-14-dev
# shellcheck source=tools/sanitizer_env.sh
. tools/sanitizer_env.sh
configure_asan_build
cmake --build "$ASAN_DIR" -j"$(nproc)" --target "fuzz_$target"
work="$ASAN_DIR/fuzz/$target"
mkdir -p "$work"
flags=(-artifact_prefix="$ASAN_DIR/fuzz/$target-" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$seconds" -eq 0 ]; then
  exec "$ASAN_DIR/tests/fuzz/fuzz_$target" "${flags[@]}" -runs=0 "$@" "tests/fuzz/corpus/$target"
fi
exec "$ASAN_DIR/tests/fuzz/fuzz_$target" "${flags[@]}" -max_total_time="$seconds" "$@" "$work" "tests/fuzz/corpus/$target"
