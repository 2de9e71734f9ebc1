// SPDX-License-Identifier: Apache-2.0
// Sliding-window geometry shared by Conv, ConvInteger, ConvTranspose and the pools: the attributes
// (kernel_shape, strides, dilations, pads, auto_pad, ceil_mode) read once per node, resolved against
// an input shape into per-dimension sizes, plus im2col.
//
// Output size per spatial dim (k_eff = dilation * (kernel - 1) + 1):
//   NOTSET     out = floor((in + pad_begin + pad_end - k_eff) / stride) + 1   (ceil with ceil_mode, then
//              one less if the last window would start beyond the input and its leading pad)
//   VALID      pads 0, same formula
//   SAME_*     out = ceil(in / stride); total pad = max(0, (out - 1) * stride + k_eff - in), split
//              evenly with the odd element at the end (SAME_UPPER) or at the beginning (SAME_LOWER)
// Up to 3 spatial dims are handled; they are right-aligned into 3 slots (D, H, W) with unit leading
// dims, so a 1-D window is D = H = 1.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "parallel.h"
#include "ptq/exec/kernel.h"

namespace ptq::exec {

constexpr int kMaxSpatial = 3;

enum class AutoPad { NotSet, Valid, SameUpper, SameLower };

struct WindowAttrs {
  std::vector<int64_t> kernel_shape;  // empty when the kernel comes from the weight's shape
  std::vector<int64_t> strides, dilations, pads;  // empty: defaults (1, 1, 0)
  AutoPad auto_pad = AutoPad::NotSet;
  bool ceil_mode = false;

  // Reads the attributes; throws UnsupportedError for an unknown auto_pad value.
  static WindowAttrs read(const Node& node);
};

struct WindowGeometry {
  int nd = 0;  // spatial dims of the op (1..3)
  int64_t in[kMaxSpatial] = {1, 1, 1}, out[kMaxSpatial] = {1, 1, 1}, k[kMaxSpatial] = {1, 1, 1};
  int64_t s[kMaxSpatial] = {1, 1, 1}, d[kMaxSpatial] = {1, 1, 1};
  int64_t pb[kMaxSpatial] = {0, 0, 0}, pe[kMaxSpatial] = {0, 0, 0};

  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
  // Sets every size of one slot.
  void set(size_t slot, int64_t in_, int64_t out_, int64_t k_, int64_t s_, int64_t d_, int64_t pb_, int64_t pe_) {
    in[slot] = in_, out[slot] = out_, k[slot] = k_, s[slot] = s_, d[slot] = d_, pb[slot] = pb_, pe[slot] = pe_;
  }
  // Output spatial dims as a shape suffix.
  Shape out_shape() const;
  bool unit_window() const;  // 1x1 kernel, stride 1, no pads: im2col is the identity
};

// Resolves `attrs` for input spatial dims `in` (x.shape()[2:]) and kernel dims `kernel`.
// Throws ModelError when the ranks disagree or the output would be empty.
WindowGeometry resolve_window(const WindowAttrs& attrs, const Shape& x_shape, const Shape& kernel);

// Lowest o with o * s + off >= 0, and one past the highest o with o * s + off < limit, clamped to
// [0, count]: the outputs whose tap lands inside the input.
inline void valid_range(int64_t off, int64_t s, int64_t limit, int64_t count, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : ceil_div(-off, s);
  hi = limit - off <= 0 ? 0 : ceil_div(limit - off, s);
  lo = std::min(lo, count);
  hi = std::min(std::max(hi, lo), count);
}

// im2col for one image and one channel group: writes rows k = (c, kd, kh, kw) of `channels * k_size()`
// and columns p in [p0, p1) of the flattened output positions into col (row length p1 - p0).
// Taps outside the input read `pad`. Each row is walked one output row (a run of OW positions) at a
// time with the position carried along (no divisions per run), and the in-bounds columns of a run are
// the same for every run of a row (they depend only on the tap's column offset).
// im2col's fast path for 2-D windows with unit strides and as many output as input columns (3x3
// "same" convolutions): output position p of tap (j, l) reads input position p + (j·dh − pad_top)·W +
// (l·dw − pad_left), so each row is one shifted copy of the plane, then the rows and columns whose tap
// falls outside the input are set to `pad`.
template <class T>
bool im2col_shifted(const T* x, int64_t channels, const WindowGeometry& g, int64_t p0, int64_t p1, T pad, T* col) {
  const int64_t W = g.in[2], H = g.in[1], OW = g.out[2], OH = g.out[1];
  if (g.k[0] != 1 || g.in[0] != 1 || g.out[0] != 1 || g.s[1] != 1 || g.s[2] != 1 || OW != W) return false;
  const int64_t width = p1 - p0, plane = H * W;
  for (int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * plane;
    for (int64_t j = 0; j < g.k[1]; ++j) {
      for (int64_t l = 0; l < g.k[2]; ++l) {
        T* dst = col + ((c * g.k[1] + j) * g.k[2] + l) * width - p0;  // dst[p], p in [p0, p1)
        const int64_t off_h = j * g.d[1] - g.pb[1], off_w = l * g.d[2] - g.pb[2], shift = off_h * W + off_w;
        const int64_t lo = std::min(std::max(p0, -shift), p1), hi = std::max(std::min(p1, plane - shift), lo);
        std::fill(dst + p0, dst + lo, pad);
        std::memcpy(dst + lo, xc + lo + shift, static_cast<size_t>(hi - lo) * sizeof(T));
        std::fill(dst + hi, dst + p1, pad);
        // Output rows whose input row is outside [0, H): whole rows of padding.
        const int64_t row_lo = std::min(std::max<int64_t>(0, -off_h), OH), row_hi = std::max(std::min(OH, H - off_h), row_lo);
        std::fill(dst + p0, dst + std::min(p1, std::max(p0, row_lo * OW)), pad);
        std::fill(dst + std::max(p0, std::min(p1, row_hi * OW)), dst + p1, pad);
        // Columns whose input column is outside [0, W): the first -off_w or the last off_w of each row.
        if (off_w == 0) continue;
        const int64_t c_lo = off_w < 0 ? 0 : std::max<int64_t>(0, W - off_w), c_hi = off_w < 0 ? std::min(W, -off_w) : W;
        for (int64_t r = p0 / OW; r * OW < p1; ++r)
          for (int64_t p = std::max(p0, r * OW + c_lo), e = std::min(p1, r * OW + c_hi); p < e; ++p) dst[p] = pad;
      }
    }
  }
  return true;
}

template <class T>
void im2col(const T* x, int64_t channels, const WindowGeometry& g, int64_t p0, int64_t p1, T pad, T* col) {
  if (im2col_shifted(x, channels, g, p0, p1, pad, col)) return;
  const int64_t width = p1 - p0;
  const int64_t OW = g.out[2], OH = g.out[1];
  const int64_t ow0 = p0 % OW, oh0 = (p0 / OW) % OH, od0 = p0 / (OW * OH);
  const int64_t plane = g.in[0] * g.in[1] * g.in[2];
  for (int64_t c = 0; c < channels; ++c) {
    const T* xc = x + c * plane;
    for (int64_t i = 0; i < g.k[0]; ++i) {
      for (int64_t j = 0; j < g.k[1]; ++j) {
        for (int64_t l = 0; l < g.k[2]; ++l) {
          T* dst = col + (((c * g.k[0] + i) * g.k[1] + j) * g.k[2] + l) * width;
          const int64_t off_w = l * g.d[2] - g.pb[2];
          int64_t w_lo, w_hi;  // outputs ow whose tap lies inside the input row
          valid_range(off_w, g.s[2], g.in[2], OW, w_lo, w_hi);
          int64_t ow = ow0, oh = oh0, od = od0;
          for (int64_t p = p0; p < p1;) {
            const int64_t seg = std::min(p1 - p, OW - ow), end = ow + seg;
            const int64_t id = od * g.s[0] - g.pb[0] + i * g.d[0];
            const int64_t ih = oh * g.s[1] - g.pb[1] + j * g.d[1];
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
              std::fill(dst, dst + seg, pad);
            } else {
              const T* src = xc + (id * g.in[1] + ih) * g.in[2];
              const int64_t lo = std::min(std::max(w_lo, ow), end), hi = std::min(std::max(w_hi, lo), end);
              std::fill(dst, dst + (lo - ow), pad);
              if (g.s[2] == 1) {
                std::memcpy(dst + (lo - ow), src + lo + off_w, static_cast<size_t>(hi - lo) * sizeof(T));
              } else {
                for (int64_t o = lo; o < hi; ++o) dst[o - ow] = src[o * g.s[2] + off_w];
              }
              std::fill(dst + (hi - ow), dst + seg, pad);
            }
            dst += seg;
            p += seg;
            ow = 0;
            if (++oh == OH) oh = 0, ++od;
          }
        }
      }
    }
  }
}

}  // namespace ptq::exec
