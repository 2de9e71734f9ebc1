# SPDX-License-Identifier: Apache-2.0
# Kernels are built with AVX2+FMA (Eigen GEMM ~2.5x faster than plain -O3 here; -march=native measured
# slower). The flags are used only when this machine can run such code, so the build never produces a
# binary that dies with SIGILL on the machine that built it.
add_library(ptq_simd INTERFACE)
if(PTQ_SIMD)
  include(CheckCXXSourceRuns)
  set(CMAKE_REQUIRED_FLAGS "-mavx2 -mfma")
  check_cxx_source_runs([=[
    #include <immintrin.h>
    int main() {
      __m256 a = _mm256_set1_ps(1.0f);
      __m256 b = _mm256_fmadd_ps(a, a, a);
      float out[8];
      _mm256_storeu_ps(out, b);
      return out[0] == 2.0f ? 0 : 1;
    }]=] PTQ_HAVE_AVX2_FMA)
  unset(CMAKE_REQUIRED_FLAGS)
  if(PTQ_HAVE_AVX2_FMA)
    target_compile_options(ptq_simd INTERFACE -mavx2 -mfma)
  else()
    message(STATUS "ptq: AVX2/FMA not available on this machine, building portable kernels")
  endif()
endif()
