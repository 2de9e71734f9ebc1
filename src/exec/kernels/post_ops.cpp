// SPDX-License-Identifier: Apache-2.0
// Fused epilogue operations (formulas in post_ops.h). Plain loops over a row the GEMM just wrote (in
// cache); the compiler vectorizes them, Sigmoid/Silu go through vec_math.h.
#include "post_ops.h"

#include <algorithm>

#include "vec_math.h"

namespace ptq::exec {

int64_t PostOps::channels() const {
  for (const PostOp& op : ops_)
    if (!op.per_channel.empty()) return static_cast<int64_t>(op.per_channel.size());
  return 0;
}

namespace {

float channel_value(const PostOp& op, int64_t channel) {
  return op.per_channel.empty() ? op.c : op.per_channel[static_cast<size_t>(channel)];
}

}  // namespace

void PostOps::apply(float* v, int64_t n, int64_t channel) const {
  using K = PostOp::Kind;
  for (const PostOp& op : ops_) {
    switch (op.kind) {
      case K::Add: {
        const float c = channel_value(op, channel);
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] + c;
        break;
      }
      case K::Mul: {
        const float c = channel_value(op, channel);
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] * c;
        break;
      }
      case K::Div: {
        const float c = channel_value(op, channel);
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] / c;
        break;
      }
      case K::Affine: {
        const float a = op.per_channel[static_cast<size_t>(channel)], b = op.per_channel_b[static_cast<size_t>(channel)];
        for (int64_t i = 0; i < n; ++i) v[i] = v[i] * a + b;
        break;
      }
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

}  // namespace ptq::exec
