// SPDX-License-Identifier: Apache-2.0
// Element-wise operations run in the epilogue of compute kernels (Conv, ConvTranspose, Gemm, MatMul)
// when the executor fuses the nodes that follow them (src/exec/fusion.cpp). Each op repeats the
// arithmetic of the standalone node it replaces, in the same order, so a fused run gives the same
// bits as the unfused one (except Sigmoid and Silu, which use vec_math.h's exp: within ~2 ulp):
//   Add / Mul / Div   v + c, v * c, v / c      c one value, or one per channel
//   Affine            v * a[ch] + b[ch]        BatchNormalization, as its kernel computes it
//   Relu              v > 0 ? v : 0
//   Clip              min(max(v, lo), hi)
//   LeakyRelu         v >= 0 ? v : alpha * v
//   HardSigmoid       max(0, min(1, alpha * v + beta))
//   HardSwish         v * max(0, min(1, v / 6 + 0.5))       (ONNX HardSwish, alpha 1/6, beta 0.5)
//   MulClipAdd        v * min(max(v + c, lo), hi)           (x * Clip(x + 3, 0, 6): decomposed hard-swish)
//   Sigmoid           1 / (1 + exp(-v)),   Silu  v * sigmoid(v)   (Sigmoid + Mul pair)
//   FakeQuant         QuantizeLinear then DequantizeLinear, per tensor, as quantize_ops.cpp computes them:
//                     q = round_half_even(min(max(v / s, qmin - zp), qmax - zp)) + zp;  float(q - zp2) * s2
// "Channel" is the output's dim 1 (the row of the GEMM for Conv/ConvTranspose).
#pragma once

#include <cstdint>
#include <vector>

namespace ptq::exec {

struct PostOp {
  enum class Kind { Add, Mul, Div, Affine, Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, MulClipAdd, Sigmoid, Silu, FakeQuant };
  Kind kind = Kind::Relu;
  float c = 0.0f, lo = 0.0f, hi = 0.0f;  // constant (Add/Mul/Div/MulClipAdd; alpha of LeakyRelu/HardSigmoid), bounds
  float beta = 0.0f;                     // HardSigmoid beta
  // FakeQuant: quantize scale/zero point (c, zp) with bounds lo = qmin - zp, hi = qmax - zp; dequantize
  // scale/zero point (dq_scale, dq_zp).
  int32_t zp = 0, dq_zp = 0;
  float dq_scale = 1.0f;
  std::vector<float> per_channel;        // Add/Mul/Div: one constant per channel (empty: c); Affine: a
  std::vector<float> per_channel_b;      // Affine: b
};

class PostOps {
 public:
  bool empty() const { return ops_.empty(); }
  void push(PostOp op) { ops_.push_back(std::move(op)); }
  const std::vector<PostOp>& ops() const { return ops_; }
  // Channels the per-channel constants expect (0: none).
  int64_t channels() const;
  // Applies every op to n values of channel `channel`.
  void apply(float* v, int64_t n, int64_t channel) const;
  // The same over n values (a multiple of B = channel_block()) of the channel-blocked layout: lane l of
  // every B belongs to channel[l] (< 0: a padding lane; the caller zeroes those again).
  void apply_blocked(float* v, int64_t n, const int64_t* channel) const;

 private:
  template <int W>
  void apply_lanes(float* v, int64_t n, const int64_t* channel) const;
  std::vector<PostOp> ops_;
};

}  // namespace ptq::exec
