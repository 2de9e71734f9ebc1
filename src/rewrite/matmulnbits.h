// SPDX-License-Identifier: Apache-2.0
// ONNX Runtime's com.microsoft MatMulNBits layout (matmulnbits_format.cpp; not public API, the tests
// include it for the packing test).
#pragma once

#include <onnx/onnx_pb.h>

#include "ptq/ir/tensor.h"

namespace ptq::rewrite {

struct PackedNBits {
  int bits = 4;
  Tensor weight;       // uint8 [N, k_blocks, block·bits/8]
  Tensor scales;       // float [N · k_blocks]
  Tensor zero_points;  // uint8 [N · ceil(k_blocks·bits/8)]
  bool default_zero_points = false;  // every zero point is 2^(bits−1) (the input may be omitted)
};

// MatMulNBits' bits for weights of `type`: 4 (int4/uint4), 8 (int8/uint8), else 0.
int matmulnbits_bits(DType type);

// The MatMulNBits form of a blocked 4- or 8-bit weight q [K, N] (int4/uint4 unpacked codes, int8/uint8)
// with the DequantizeLinear's scale and zero point [k_blocks, N] (axis 0, `block`).
PackedNBits pack_matmulnbits(const Tensor& q, const Tensor& scale, const Tensor& zero_point, int64_t block);

// Replaces every DequantizeLinear (4- or 8-bit, 2-D, axis 0, block_size) → MatMul pair of the main graph
// by one MatMulNBits, and every DequantizeLinear (4- or 8-bit, 2-D, axis 1) → Gather (axis 0) pair by one
// GatherBlockQuantized; returns how many. The caller adds the com.microsoft opset import.
size_t to_matmulnbits(onnx::ModelProto& model);

}  // namespace ptq::rewrite
