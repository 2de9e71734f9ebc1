// SPDX-License-Identifier: Apache-2.0
// Direct depthwise convolution of one plane (2-D, any kernel size, stride, dilation and pads):
//   y[oh, ow] = bias + sum over (kh, kw) in order of w[kh, kw] * xp[oh * sh + kh * dh, ow * sw + kw * dw]
// where xp is the input plane copied into a zero-padded scratch plane (pads plus kSlack spare columns),
// so every tap is in range and there is no border code. Each sum is a chain of fused multiply-adds
// starting from the bias; 8 output columns run in one AVX2 register (stride 1: one load per tap,
// stride 2: two loads and a de-interleave; the last group of a row reads spare zero columns and is
// stored with a mask), 4 output rows at a time so the chains interleave. Other strides, and builds
// without AVX2, run the same chain with std::fma, so an output's bits do not depend on its position.
// Then the fused post-ops run over the plane.
#include "depthwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PTQ_DW_AVX2 1
#endif

#include "parallel.h"

namespace ptq::exec {
namespace {

constexpr int64_t kSlack = 16;  // spare zero columns: stride-2 vector loads may read past the last tap

struct Padded {
  const float* data = nullptr;
  int64_t width = 0;
};

// Copies plane x (H x W) into a zero-padded scratch plane.
Padded pad_plane(const float* x, const WindowGeometry& g) {
  const int64_t H = g.in[1], W = g.in[2];
  const int64_t rows = std::max(H + g.pb[1] + g.pe[1], (g.out[1] - 1) * g.s[1] + (g.k[1] - 1) * g.d[1] + 1);
  const int64_t width = std::max(W + g.pb[2] + g.pe[2], (g.out[2] - 1) * g.s[2] + (g.k[2] - 1) * g.d[2] + 1) + kSlack;
  float* p = thread_scratch<float, 4>(static_cast<size_t>(rows * width));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = p + r * width;
    const int64_t h = r - g.pb[1];
    if (h < 0 || h >= H) {
      std::fill(row, row + width, 0.0f);
      continue;
    }
    std::fill(row, row + g.pb[2], 0.0f);
    std::memcpy(row + g.pb[2], x + h * W, static_cast<size_t>(W) * sizeof(float));
    std::fill(row + g.pb[2] + W, row + width, 0.0f);
  }
  return {p, width};
}

#ifdef PTQ_DW_AVX2
inline __m256 load_taps(const float* p, int64_t s) {
  if (s == 1) return _mm256_loadu_ps(p);
  // s == 2: even elements of p[0..15]
  const __m256 lo = _mm256_loadu_ps(p), hi = _mm256_loadu_ps(p + 8);
  const __m256 ev = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
}

// R output rows from oh0, 8 columns from ow: R independent accumulator chains, so consecutive fused
// multiply-adds do not wait on each other; each chain still takes the taps in (kh, kw) order.
template <int R>
void rows_block(const Padded& xp, const float* w, const WindowGeometry& g, float bias, int64_t oh0, float* y) {
  const int64_t OW = g.out[2], KH = g.k[1], KW = g.k[2], s = g.s[2], d = g.d[2];
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t ow = 0; ow < OW; ow += 8) {
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_set1_ps(bias);
    for (int64_t kh = 0; kh < KH; ++kh) {
      const float* base[R];
      for (int r = 0; r < R; ++r) base[r] = xp.data + ((oh0 + r) * g.s[1] + kh * g.d[1]) * xp.width + ow * s;
      for (int64_t kw = 0; kw < KW; ++kw) {
        const __m256 wv = _mm256_set1_ps(w[kh * KW + kw]);
        for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(wv, load_taps(base[r] + kw * d, s), acc[r]);
      }
    }
    if (ow + 8 <= OW) {
      for (int r = 0; r < R; ++r) _mm256_storeu_ps(y + (oh0 + r) * OW + ow, acc[r]);
    } else {  // the spare zero columns kept the loads inside the scratch plane
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(OW - ow)), lane);
      for (int r = 0; r < R; ++r) _mm256_maskstore_ps(y + (oh0 + r) * OW + ow, mask, acc[r]);
    }
  }
}
#endif

inline float taps1(const float* const* rows, const float* w, const WindowGeometry& g, int64_t ow, float bias) {
  float acc = bias;
  const int64_t KH = g.k[1], KW = g.k[2], s = g.s[2], d = g.d[2];
  for (int64_t kh = 0; kh < KH; ++kh)
    for (int64_t kw = 0; kw < KW; ++kw) acc = std::fma(w[kh * KW + kw], rows[kh][ow * s + kw * d], acc);
  return acc;
}

}  // namespace

void depthwise_plane(const float* x, const float* w, float bias, float* y, const WindowGeometry& g, const PostOps& post,
                     int64_t channel) {
  const Padded xp = pad_plane(x, g);
  const int64_t OH = g.out[1], OW = g.out[2], KH = g.k[1];
  int64_t oh = 0;
#ifdef PTQ_DW_AVX2
  if (g.s[2] <= 2) {
    for (; oh + 4 <= OH; oh += 4) rows_block<4>(xp, w, g, bias, oh, y);
    for (; oh < OH; ++oh) rows_block<1>(xp, w, g, bias, oh, y);
  }
#endif
  const float** rows = thread_scratch<const float*>(static_cast<size_t>(KH));  // called per channel: no allocation
  for (; oh < OH; ++oh) {
    for (int64_t kh = 0; kh < KH; ++kh) rows[kh] = xp.data + (oh * g.s[1] + kh * g.d[1]) * xp.width;
    for (int64_t ow = 0; ow < OW; ++ow) y[oh * OW + ow] = taps1(rows, w, g, ow, bias);
  }
  for (oh = 0; oh < OH; ++oh) post.apply(y + oh * OW, OW, channel);
}

}  // namespace ptq::exec
