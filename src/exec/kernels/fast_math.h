// SPDX-License-Identifier: Apache-2.0
// exp for float written so that loops calling it vectorize (no libm call, no branches):
//   n = round(x·log2(e)), r = x - n·ln2 (Cody-Waite split ln2 = C1 + C2, exact n·C1),
//   e^r = 1 + r + r²·P(r) with Cephes' expf polynomial P (|r| <= ln2/2), e^x = e^r · 2^⌊n/2⌋ · 2^(n-⌊n/2⌋)
//   (two power-of-two factors keep each one a normal float, so results down to the subnormal range
//   and up to overflow come out right). Inputs are clamped to [-104, 89], beyond which e^x is 0 or
//   +inf in float anyway; NaN propagates through the arithmetic. Error against double exp: at most
//   1 ulp over the normal range (tests/unit/exec/fast_math_test.cpp).
// The rounding adds and subtracts 1.5·2^23, which needs the default rounding mode and no
// -ffast-math reassociation (ptq is not built with it). std::floor would keep the loop scalar.
// sigmoid(x) = 1 / (1 + e^-x) on top of it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ptq::exec {

// Clamp bounds as variables, not constants: with constants GCC threads the clamp into branches
// (the clamped value makes everything after it constant) and then cannot vectorize the loop.
inline float exp_fast_lo = -104.0f, exp_fast_hi = 89.0f;

inline float exp_fast(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kC1 = 0.693359375f;          // ln2, high part (exact in 9 bits)
  constexpr float kC2 = -2.12194440e-4f;       // ln2 - kC1
  const float xc = std::min(std::max(x, exp_fast_lo), exp_fast_hi);
  const float n = (xc * kLog2e + 12582912.0f) - 12582912.0f;  // round to nearest (1.5·2^23 trick)
  const float r = (xc - n * kC1) - n * kC2;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r2 + r + 1.0f;
  // NaN in (a fully masked softmax row: -inf - -inf): er is NaN and so is the result, but converting n
  // (NaN) to int is undefined behaviour (UBSan, tools/run_sanitizers.sh): convert 0 instead.
  const int32_t ni = static_cast<int32_t>(n == n ? n : 0.0f);
  const int32_t n1 = ni >> 1, n2 = ni - n1;
  const int32_t b1 = (n1 + 127) << 23, b2 = (n2 + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &b1, sizeof s1);
  std::memcpy(&s2, &b2, sizeof s2);
  const float y = er * s1 * s2;
  return y;
}

inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_fast(-x)); }

// e^x for kernels templated on the float type: exp_fast for float, std::exp for double.
template <class T>
T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) return exp_fast(x);
  return std::exp(x);
}

}  // namespace ptq::exec
