// SPDX-License-Identifier: Apache-2.0
// Quantization types, specs and parameters. Convention everywhere in ptq (as ONNX QuantizeLinear):
//   q = saturate(round_half_to_even(x / scale) + zero_point),   x ≈ scale · (q − zero_point).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ptq/ir/tensor.h"

namespace ptq {

// Rows of the type table in qspec.cpp (ranges, symmetric and reduce-range conventions there). 4-bit
// values are held unpacked, one int8_t/uint8_t per element (DType::Int4/UInt4).
enum class QType { Int8, UInt8, Int16, UInt16, Int32, Int4, UInt4 };

std::string qtype_name(QType type);       // "int8", ...
std::string qtype_names();                // "int4, uint4, int8, ..." (every row, for messages)
QType qtype_from_name(const std::string& name);  // throws UsageError listing the allowed names
DType qtype_dtype(QType type);
int qtype_bits(QType type);               // 4, 8, 16 or 32
int64_t qtype_min(QType type);            // full range, e.g. int8 -128
int64_t qtype_max(QType type);            // e.g. int8 127

// How one tensor is quantized.
struct QuantSpec {
  QType type = QType::UInt8;
  bool symmetric = false;     // range [-absmax, absmax]; restricted range for signed types
  bool reduce_range = false;  // one bit less (ORT reduce_range): int8 [-64,64], uint8 [0,127]; no effect on 4-bit types
  // Integer range actually used: e.g. symmetric int8 [-127,127], uint8 [0,255], reduce-range uint8 [0,127].
  int64_t qmin() const;
  int64_t qmax() const;
};

// A real-valued range observed or chosen for a tensor (or one channel of it).
struct Range {
  float lo = 0.0f;
  float hi = 0.0f;
};

// Scale and zero point: one entry (per-tensor, axis = -1) or one per channel along `axis`; or, blocked
// (block > 0, ONNX opset-21 DequantizeLinear's block_size), one per block of `block` consecutive elements
// along `axis` (the last block of a dimension may be shorter): the entries form a tensor of shape
// scale_shape (the tensor's shape with dimension `axis` replaced by ceil(dim / block)), row-major.
struct QParams {
  QType type = QType::UInt8;
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  int axis = -1;
  int64_t block = 0;
  Shape scale_shape;  // blocked only
  bool per_channel() const { return axis >= 0; }
  bool blocked() const { return block > 0; }
};

// The scale shape of a tensor of shape `shape` blocked by `block` along `axis`.
Shape blocked_scale_shape(const Shape& shape, int axis, int64_t block);

}  // namespace ptq
