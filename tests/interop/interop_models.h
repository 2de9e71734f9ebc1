// SPDX-License-Identifier: Apache-2.0
// Small generated float models for the ONNX Runtime interop tests (text syntax + seeded random
// weights scaled by 1/sqrt(fan-in), so activations stay O(1) through the layers), and their inputs.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

#include "ptq/exec/executor.h"

namespace ptq::test {

// x [N,3,16,16] → Conv3x3(8)+bias → Relu → MaxPool → Conv3x3(8)+bias → Clip(0,6) → Add(residual)
// → Conv1x1(16)+bias → Relu → GlobalAveragePool → Flatten → Gemm(transB, 10) → logits [N,10].
onnx::ModelProto conv_net(int opset);

// x [N,6,16] → MatMul(16x32) → Add(b) ─┬→ LeakyRelu ──────────┬→ Concat(axis 2) → Transpose
//                                      └→ Sigmoid → Mul (SiLU) ┘   → Reshape [N,384] → Gemm(10) → Softmax → y
// exercises MatMul, Add, Mul, Concat, Sigmoid, LeakyRelu, Transpose, Reshape, Gemm, Softmax.
onnx::ModelProto mlp_net(int opset);

// ids [N,5] int64 → Gather(E [50,16]) → MatMul(16x8) → y [N,5,8]  (embedding for dynamic mode)
onnx::ModelProto embedding_net(int opset);

// Inputs for a model: float inputs uniform in [-1, 1], int64 ids in [0, 50), batch n, seeded.
exec::TensorMap make_inputs(const onnx::ModelProto& model, int64_t n, uint32_t seed);

}  // namespace ptq::test
