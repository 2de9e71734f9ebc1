// SPDX-License-Identifier: Apache-2.0
// Small float models with old opsets, odd declarations, symbolic dims and training-mode nodes, for the
// CLI tests (e2e/shapes_cli_test.cpp) and the ONNX Runtime tests (interop/ort_shapes_test.cpp). Written
// in ONNX text syntax; weights random_tensor with fixed seeds.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ptq/ir/tensor.h"

namespace ptq::test {

// x [x_dims] → Conv 3x3 (4 channels, pads 1, bias) → Relu → GlobalAveragePool → Flatten → Gemm (transB,
// 5) → y [y_dims]; y_dims "" leaves y without a shape. Node names conv1 relu1 gap flat fc.
onnx::ModelProto small_cnn(const std::string& x_dims, const std::string& y_dims, int64_t ir_version = 7, int64_t opset = 13);

// small_cnn("N,3,10,12", "", 3, 8): an IR-3 model, its initializers listed as graph inputs too (as IR 3
// requires), no value_info, its output without a shape.
onnx::ModelProto ir3_cnn();

// x [x_dims] (last dim 6) → MatMul (6x16) → Add → Relu → MatMul (16x4) → Softmax (axis -1) → y [y_dims].
onnx::ModelProto small_mlp(const std::string& x_dims, const std::string& y_dims);

// Opset 7, 8 or 9, IR 3 (initializers not listed as graph inputs): x [1,3,8,8] → BatchNormalization
// (spatial = 1 before 9) → Conv 3x3 → Relu → Upsample ×2 `mode` (scales attribute before 9, input from 9)
// → Dropout (ratio 0.2, mask unread) → GlobalAveragePool → Flatten → Gemm (transB, 5) → y [1,5].
onnx::ModelProto old_opset_cnn(int64_t opset, const std::string& mode = "nearest");

// Opset 15: x [N,3,8,8] → Conv 3x3 → BatchNormalization bn1 (training_mode = 1: batch statistics;
// outputs bn, running mean rm, running var rv) → Relu → y; rm is a graph output too.
onnx::ModelProto training_bn_cnn();

// Opset 13 + com.microsoft (no schemas in ONNX 1.12): x [2,4] → MatMul (4x3) → Add (com.microsoft
// DequantizeLinear of an int8 constant [3]) → y, declared without a shape.
onnx::ModelProto custom_domain_mlp();

// Sets (or adds) the value_info entry of `name`: elem_type and dims (numbers, or names for symbolic dims).
void set_value_info(onnx::ModelProto& model, const std::string& name, int elem_type, const std::vector<std::string>& dims);

// dir/000, dir/001, ...: `count` sample folders holding `input`.npy, random in [-1, 1) (seeds seed, seed + 1, ...).
void write_samples(const std::filesystem::path& dir, const std::string& input, const Shape& shape, int count, uint32_t seed);

}  // namespace ptq::test
