// SPDX-License-Identifier: Apache-2.0
// scan_extremes (see extremes.h).
#include "extremes.h"

#include <cmath>

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace ptq::calib {

bool scan_extremes(const float* x, size_t n, float& min, float& max) {
  float lo = x[0], hi = x[0];
  bool nan = false;
  size_t i = 0;
#ifdef __AVX2__
  if (n >= 8) {
    __m256 vlo = _mm256_loadu_ps(x), vhi = vlo, bad = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
      const __m256 v = _mm256_loadu_ps(x + i);
      vlo = _mm256_min_ps(vlo, v);
      vhi = _mm256_max_ps(vhi, v);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    nan = _mm256_movemask_ps(bad) != 0;
    alignas(32) float l[8], h[8];
    _mm256_store_ps(l, vlo);
    _mm256_store_ps(h, vhi);
    lo = l[0], hi = h[0];
    for (int k = 1; k < 8; ++k) lo = l[k] < lo ? l[k] : lo, hi = h[k] > hi ? h[k] : hi;
  }
#endif
  for (; i < n; ++i) {
    const float v = x[i];
    nan |= v != v;
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  if (nan || !std::isfinite(lo) || !std::isfinite(hi)) return false;
  min = lo == 0.0f ? 0.0f : lo;
  max = hi == 0.0f ? 0.0f : hi;
  return true;
}

}  // namespace ptq::calib
