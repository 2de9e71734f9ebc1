# SPDX-License-Identifier: Apache-2.0
# Sourced by tools/run_sanitizers.sh and tools/fuzz.sh: configures ./build-asan, the one ASan+UBSan build
# both use (library, CLI, tests, and with clang's libFuzzer the fuzz targets too: one build, not two).
# clang when installed (-O1, libFuzzer coverage on every unit), else gcc without the fuzz targets.
ASAN_DIR=build-asan
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

configure_asan_build() {
  if [ ! -f "$ASAN_DIR/CMakeCache.txt" ]; then
    local cc=gcc cxx=g++ fuzz=OFF
    if command -v clang++ >/dev/null; then
      cc=clang cxx=clang++
      ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 && fuzz=ON
    fi
    CC=$cc CXX=$cxx cmake -S . -B "$ASAN_DIR" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" \
      -DPTQ_SANITIZE=address,undefined -DPTQ_FUZZ=$fuzz >/dev/null
  fi
}
