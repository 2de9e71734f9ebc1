// SPDX-License-Identifier: Apache-2.0
// conv_direct (see conv_direct.h).
#include "conv_direct.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "parallel.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

namespace ptq::exec {
namespace {

constexpr int64_t kRows = 4;  // output channels per register block
// Where the direct path beats im2col + GEMM (measured on single layers, 3x3, 1 thread, 7x7 to 224x224
// maps, 16 to 256 channels): wide maps with few channels. Every output row streams all weights
// (Cg · M · k values) from L2, while im2col's cost and the GEMM's inefficiency grow with the map:
// direct when Cg · M <= 64 · output width and the map is at least 32 wide (1.1-1.45x faster there;
// e.g. 64 -> 64 channels on 224x224: 48 vs 65 ms; 128 -> 128 on 56x56: 20 vs 12 ms, left to GEMM).
constexpr int64_t kMinWidth = 32;
constexpr int64_t kMaxChannelsPerColumn = 64;

struct Plane {
  int64_t Hp = 0, Wp = 0;  // padded input plane
  int64_t kh = 0, kw = 0, OH = 0, OW = 0;
};

// acc[r][0..cols) for kRows output channels at output row oh, columns [ow, ow + cols), cols <= 24,
// from packed weights wp[((c · kh + j) · kw + l) · kRows + r]. Sums in the order c, j, l, fused
// multiply-adds, in both the vector and the scalar code: a column's value does not depend on the path.
#ifdef __AVX2__
// NV vectors of 8 columns; `tail` < 8: one vector of which only the first `tail` columns are read
// (masked loads: nothing past the row's end is touched).
template <int NV>
void vector_block(const float* xp, int64_t Cg, const Plane& p, const float* wp, int64_t oh, int64_t ow, float (*acc)[24],
                  int tail = 0) {
  alignas(32) int32_t lanes[8];
  for (int k = 0; k < 8; ++k) lanes[k] = k < tail ? -1 : 0;
  const __m256i mask = _mm256_load_si256(reinterpret_cast<const __m256i*>(lanes));
  __m256 a[kRows][NV];
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < NV; ++v) a[r][v] = _mm256_setzero_ps();
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t j = 0; j < p.kh; ++j) {
      const float* row = xp + (c * p.Hp + oh + j) * p.Wp + ow;
      const float* wr = wp + (c * p.kh + j) * p.kw * kRows;
      for (int64_t l = 0; l < p.kw; ++l) {
        __m256 xv[NV];
        for (int v = 0; v < NV; ++v) xv[v] = tail ? _mm256_maskload_ps(row + l, mask) : _mm256_loadu_ps(row + l + 8 * v);
        for (int r = 0; r < kRows; ++r) {
          const __m256 wv = _mm256_broadcast_ss(wr + l * kRows + r);
          for (int v = 0; v < NV; ++v) a[r][v] = _mm256_fmadd_ps(wv, xv[v], a[r][v]);
        }
      }
    }
  for (int r = 0; r < kRows; ++r)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(acc[r] + 8 * v, a[r][v]);
}
#endif

void row_block(const float* xp, int64_t Cg, const Plane& p, const float* wp, int64_t oh, int64_t ow, int64_t cols,
               float (*acc)[24]) {
#ifdef __AVX2__
  if (cols == 24) return vector_block<3>(xp, Cg, p, wp, oh, ow, acc);
  if (cols == 16) return vector_block<2>(xp, Cg, p, wp, oh, ow, acc);
  if (cols == 8) return vector_block<1>(xp, Cg, p, wp, oh, ow, acc);
  return vector_block<1>(xp, Cg, p, wp, oh, ow, acc, static_cast<int>(cols));
#endif
  for (int r = 0; r < kRows; ++r) std::fill(acc[r], acc[r] + cols, 0.0f);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t j = 0; j < p.kh; ++j) {
      const float* row = xp + (c * p.Hp + oh + j) * p.Wp + ow;
      const float* wr = wp + (c * p.kh + j) * p.kw * kRows;
      for (int64_t l = 0; l < p.kw; ++l)
        for (int r = 0; r < kRows; ++r) {
          const float wv = wr[l * kRows + r];
          for (int64_t k = 0; k < cols; ++k) acc[r][k] = std::fma(wv, row[l + k], acc[r][k]);
        }
    }
}

}  // namespace

bool conv_direct_fits(const WindowGeometry& g, int64_t channels_per_group, int64_t outputs_per_group) {
  return g.nd == 2 && g.s[1] == 1 && g.s[2] == 1 && g.d[1] == 1 && g.d[2] == 1 && g.k[1] <= 7 && g.k[2] <= 7 &&
         g.k[1] * g.k[2] > 1 && g.out[2] >= kMinWidth && channels_per_group >= 4 &&
         channels_per_group * outputs_per_group <= kMaxChannelsPerColumn * g.out[2];
}

void conv_direct(int64_t N, int64_t C, int64_t M, int64_t group, const WindowGeometry& g, const float* x, const float* w,
                 const float* b, float* y, const PostOps& post, int threads) {
  const int64_t Cg = C / group, Mg = M / group, H = g.in[1], W = g.in[2];
  Plane p;
  p.kh = g.k[1], p.kw = g.k[2], p.OH = g.out[1], p.OW = g.out[2];
  p.Hp = p.OH + p.kh - 1, p.Wp = p.OW + p.kw - 1;  // = H + pads, W + pads (unit stride and dilation)
  const int64_t kk = p.kh * p.kw, out_size = p.OH * p.OW, blocks = ceil_div(Mg, kRows);
  // Weights packed per block of kRows output channels: [block][c][j][l][r] (zeros past Mg).
  const size_t packed = static_cast<size_t>(group * blocks * Cg * kk * kRows);
  float* wp = thread_scratch<float, 2>(packed);
  std::fill(wp, wp + packed, 0.0f);
  for (int64_t m = 0; m < M; ++m) {
    const int64_t grp = m / Mg, mb = (m % Mg) / kRows, r = (m % Mg) % kRows;
    float* to = wp + (grp * blocks + mb) * Cg * kk * kRows;
    for (int64_t t = 0; t < Cg * kk; ++t) to[t * kRows + r] = w[m * Cg * kk + t];
  }
  float* xp = thread_scratch<float, 3>(static_cast<size_t>(Cg * p.Hp * p.Wp));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t grp = 0; grp < group; ++grp) {
      // Zero-padded copy: input row ih at padded row ih + pad_top, column iw at iw + pad_left.
      const float* xg = x + (n * C + grp * Cg) * H * W;
      parallel_for(threads, Cg, [&](int64_t c) {
        float* plane = xp + c * p.Hp * p.Wp;
        std::fill(plane, plane + p.Hp * p.Wp, 0.0f);
        for (int64_t ih = 0; ih < H; ++ih)
          std::memcpy(plane + (ih + g.pb[1]) * p.Wp + g.pb[2], xg + (c * H + ih) * W, static_cast<size_t>(W) * sizeof(float));
      }, Cg * p.Hp * p.Wp);
      float* yg = y + (n * M + grp * Mg) * out_size;
      const float* wg = wp + grp * blocks * Cg * kk * kRows;
      // A task is one output row for every output channel: the input rows it reads (Cg x kh rows) stay
      // in L2 across the channel blocks, and one column block's slice of them in L1.
      parallel_for(threads, p.OH, [&](int64_t oh) {
        float acc[kRows][24];
        for (int64_t ow = 0; ow < p.OW;) {
          const int64_t left = p.OW - ow, cols = left >= 24 ? 24 : left >= 16 ? 16 : left >= 8 ? 8 : left;
          for (int64_t mb = 0; mb < blocks; ++mb) {
            const int64_t m0 = mb * kRows, rows = std::min(kRows, Mg - m0);
            row_block(xp, Cg, p, wg + mb * Cg * kk * kRows, oh, ow, cols, acc);
            for (int64_t r = 0; r < rows; ++r) {
              float* out = yg + (m0 + r) * out_size + oh * p.OW + ow;
              const float bias = b ? b[grp * Mg + m0 + r] : 0.0f;
              for (int64_t k = 0; k < cols; ++k) out[k] = acc[r][k] + bias;
            }
          }
          ow += cols;
        }
        if (!post.empty())
          for (int64_t m = 0; m < Mg; ++m) post.apply(yg + m * out_size + oh * p.OW, p.OW, grp * Mg + m);
      }, p.OH * Mg * p.OW * Cg * kk);
    }
}

}  // namespace ptq::exec
