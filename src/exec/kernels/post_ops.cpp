// SPDX-License-Identifier: Apache-2.0
// Fused epilogue operations (formulas in post_ops.h). Plain loops over a row the GEMM just wrote (in
// cache); the compiler vectorizes them, Sigmoid/Silu go through vec_math.h.
#include "post_ops.h"

#include <algorithm>

#include "dnnl_conv.h"  // channel_block()
#include "vec_math.h"

namespace ptq::exec {

int64_t PostOps::channels() const {
  for (const PostOp& op : ops_)
    if (!op.per_channel.empty()) return static_cast<int64_t>(op.per_channel.size());
  return 0;
}

namespace {

// The constant of each of W lanes (channel[l] < 0: a padding lane, given 1).
template <int W>
void lane_values(const std::vector<float>& per_channel, float c, const int64_t* channel, float* out) {
  for (int l = 0; l < W; ++l)
    out[l] = per_channel.empty() ? c : channel[l] < 0 ? 1.0f : per_channel[static_cast<size_t>(channel[l])];
}

}  // namespace

// n values in groups of W lanes; lane l of every group belongs to channel[l]. W = 1: one plane of one
// channel; W = 8 or 16: a block of the channel-blocked layout. The arithmetic per element is the same.
template <int W>
void PostOps::apply_lanes(float* v, int64_t n, const int64_t* channel) const {
  using K = PostOp::Kind;
  const int64_t groups = n / W;
  float k[W], k2[W];
  for (const PostOp& op : ops_) {
    switch (op.kind) {
      case K::Add:
        lane_values<W>(op.per_channel, op.c, channel, k);
        for (int64_t g = 0; g < groups; ++g)
          for (int l = 0; l < W; ++l) v[g * W + l] = v[g * W + l] + k[l];
        break;
      case K::Mul:
        lane_values<W>(op.per_channel, op.c, channel, k);
        for (int64_t g = 0; g < groups; ++g)
          for (int l = 0; l < W; ++l) v[g * W + l] = v[g * W + l] * k[l];
        break;
      case K::Div:
        lane_values<W>(op.per_channel, op.c, channel, k);
        for (int64_t g = 0; g < groups; ++g)
          for (int l = 0; l < W; ++l) v[g * W + l] = v[g * W + l] / k[l];
        break;
      case K::Affine:
        lane_values<W>(op.per_channel, 0.0f, channel, k);
        lane_values<W>(op.per_channel_b, 0.0f, channel, k2);
        for (int64_t g = 0; g < groups; ++g)
          for (int l = 0; l < W; ++l) v[g * W + l] = v[g * W + l] * k[l] + k2[l];
        break;
      case K::Relu:
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] > 0.0f ? v[i] : 0.0f;
        break;
      case K::Clip: {
        const float lo = op.lo, hi = op.hi;
        for (int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], lo), hi);
        break;
      }
      case K::LeakyRelu: {
        const float a = op.c;
        // max(x, 0) + a * min(x, 0): x >= 0 ? x : a * x in a form the compiler vectorizes (as the
        // standalone LeakyRelu kernel computes it).
        for (int64_t i = 0; i < n; ++i) v[i] = std::max(v[i], 0.0f) + a * std::min(v[i], 0.0f);
        break;
      }
      case K::HardSigmoid: {
        const float a = op.c, b = op.beta;
        for (int64_t i = 0; i < n; ++i) v[i] = std::max(0.0f, std::min(1.0f, a * v[i] + b));
        break;
      }
      case K::HardSwish:
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] * std::max(0.0f, std::min(1.0f, v[i] / 6.0f + 0.5f));
        break;
      case K::MulClipAdd: {
        const float c = op.c, lo = op.lo, hi = op.hi;
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] * std::min(std::max(v[i] + c, lo), hi);
        break;
      }
      case K::FakeQuant: vec::fake_quant_inplace(v, n, op.c, op.lo, op.hi, op.zp, op.dq_scale, op.dq_zp); break;
      case K::Sigmoid: vec::sigmoid_inplace(v, n, false); break;
      case K::Silu: vec::sigmoid_inplace(v, n, true); break;
    }
  }
}

void PostOps::apply(float* v, int64_t n, int64_t channel) const { apply_lanes<1>(v, n, &channel); }

void PostOps::apply_blocked(float* v, int64_t n, const int64_t* channel) const {
  if (channel_block() == 8)
    apply_lanes<8>(v, n, channel);
  else
    apply_lanes<16>(v, n, channel);
}

}  // namespace ptq::exec
