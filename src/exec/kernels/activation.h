// SPDX-License-Identifier: Apache-2.0
// Activation applied in the epilogue of compute kernels (Conv, ConvTranspose, Gemm, MatMul) when the
// executor fuses a following activation node into them. The formulas match the standalone ops:
//   Relu       max(x, 0)
//   Clip       min(max(x, lo), hi)
//   LeakyRelu  x >= 0 ? x : alpha * x
//   HardSigmoid max(0, min(1, alpha * x + beta))
//   Sigmoid    1 / (1 + exp(-x))
//   Silu       x * sigmoid(x)       (the Sigmoid + Mul pair YOLOX and others export)
// Sigmoid uses the same expression as the standalone kernel so fused and unfused runs agree bit for bit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ptq::exec {

struct Activation {
  enum class Kind { None, Relu, Clip, LeakyRelu, HardSigmoid, Sigmoid, Silu };
  Kind kind = Kind::None;
  float alpha = 0.0f;  // LeakyRelu/HardSigmoid alpha, Clip lower bound
  float beta = 0.0f;   // HardSigmoid beta, Clip upper bound

  bool none() const { return kind == Kind::None; }

  void apply(float* p, int64_t n) const {
    switch (kind) {
      case Kind::None: return;
      case Kind::Relu:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0.0f ? p[i] : 0.0f;
        return;
      case Kind::Clip: {
        const float lo = alpha, hi = beta;
        for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], lo), hi);
        return;
      }
      case Kind::LeakyRelu: {
        const float a = alpha;
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0.0f ? p[i] : a * p[i];
        return;
      }
      case Kind::HardSigmoid: {
        const float a = alpha, b = beta;
        for (int64_t i = 0; i < n; ++i) p[i] = std::max(0.0f, std::min(1.0f, a * p[i] + b));
        return;
      }
      case Kind::Sigmoid:
        for (int64_t i = 0; i < n; ++i) p[i] = sigmoid(p[i]);
        return;
      case Kind::Silu:
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] * sigmoid(p[i]);
        return;
    }
  }

  static float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
};

}  // namespace ptq::exec
