// SPDX-License-Identifier: Apache-2.0
// Vectorized exp and logistic functions for the fused epilogues (post_ops.cpp).
// exp(x): x clamped to [kExpLo, kExpHi]; n = round_half_even(x * log2(e)); r = x - n * ln2 (ln2 split
// in a high and a low part); exp(r) by the Cephes degree-6 polynomial; result = p * 2^n built in the
// exponent bits. Within about 2 ulp of std::exp over the range. Every step is a single IEEE operation or
// a fused multiply-add (exp_scalar repeats them with std::fma for builds without AVX2).
//   sigmoid(x) = 1 / (1 + exp(-x)),  silu(x) = x * sigmoid(x)
// With AVX2 the reciprocal is rcp_ps refined by one Newton step (r * (2 - d * r), about 1 ulp) and
// every element, the last partial group included (masked load/store), takes the vector path.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PTQ_VEC_MATH_AVX2 1
#endif

namespace ptq::exec::vec {

// kExpHi keeps n = round(x * log2(e)) at 127 at most and the result finite (2.4e38): with ln(FLT_MAX)
// itself n reaches 128 and 2^n, built in the exponent bits, is inf (then sigmoid's d * rcp(d) is NaN).
constexpr float kExpLo = -87.3365478515625f, kExpHi = 88.3762626647949f;
constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f;
constexpr float kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

inline float exp_scalar(float x) {
  x = std::fmin(std::fmax(x, kExpLo), kExpHi);
  const float n = std::nearbyint(x * kLog2e);
  float r = std::fma(-n, kLn2Hi, x);
  r = std::fma(-n, kLn2Lo, r);
  float p = kP0;
  p = std::fma(p, r, kP1);
  p = std::fma(p, r, kP2);
  p = std::fma(p, r, kP3);
  p = std::fma(p, r, kP4);
  p = std::fma(p, r, kP5);
  const float r2 = r * r;
  p = std::fma(p, r2, r);
  p = p + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

#ifdef PTQ_VEC_MATH_AVX2
inline __m256 exp_avx2(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(kExpLo)), _mm256_set1_ps(kExpHi));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP5));
  const __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}
#endif

#ifdef PTQ_VEC_MATH_AVX2
inline __m256 sigmoid_avx2(__m256 x, bool times_x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 d = _mm256_add_ps(one, exp_avx2(_mm256_sub_ps(_mm256_setzero_ps(), x)));
  __m256 r = _mm256_rcp_ps(d);
  r = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0f)));
  return times_x ? _mm256_mul_ps(x, r) : r;
}
#endif

// In place over n values: sigmoid, or x * sigmoid(x) with `times_x`.
inline void sigmoid_inplace(float* p, int64_t n, bool times_x) {
#ifdef PTQ_VEC_MATH_AVX2
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, sigmoid_avx2(_mm256_loadu_ps(p + i), times_x));
  if (i < n) {
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(p + i, mask, sigmoid_avx2(_mm256_maskload_ps(p + i, mask), times_x));
  }
#else
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.0f / (1.0f + exp_scalar(0.0f - p[i]));
    p[i] = times_x ? p[i] * s : s;
  }
#endif
}

// QuantizeLinear then DequantizeLinear in place (per tensor): the arithmetic of quantize_ops.cpp
// (true division, clamp with NaN -> lo, round half to even) followed by float(q - dq_zp) * dq_scale.
inline void fake_quant_inplace(float* p, int64_t n, float scale, float lo, float hi, int32_t zp, float dq_scale, int32_t dq_zp) {
  int64_t i = 0;
#ifdef PTQ_VEC_MATH_AVX2
  const __m256 vs = _mm256_set1_ps(scale), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), vds = _mm256_set1_ps(dq_scale);
  const __m256i shift = _mm256_set1_epi32(zp - dq_zp);
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_div_ps(_mm256_loadu_ps(p + i), vs);
    v = _mm256_min_ps(_mm256_max_ps(v, vlo), vhi);  // max_ps returns vlo for NaN, like v > lo ? v : lo
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), shift);  // round half to even (default MXCSR)
    _mm256_storeu_ps(p + i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), vds));
  }
#endif
  for (; i < n; ++i) {
    float v = p[i] / scale;
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    const int32_t q = static_cast<int32_t>(std::nearbyint(v)) + zp;
    p[i] = static_cast<float>(q - dq_zp) * dq_scale;
  }
}

}  // namespace ptq::exec::vec
