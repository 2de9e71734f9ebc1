// SPDX-License-Identifier: Apache-2.0
// compute_qparams: the one function that turns a range into scale and zero point, used by every
// observer and for weights. Quantize/dequantize helpers with ONNX QuantizeLinear semantics.
#pragma once

#include <algorithm>
#include <cmath>

#include "ptq/quant/qspec.h"

namespace ptq {

// Rules (as ONNX Runtime's compute_scale_zp and PyTorch's observers):
//  1. the range is widened to include 0 (so 0 is exactly representable);
//  2. symmetric: [-absmax, absmax], zero point (qmin+qmax)/2 rounded (0 for signed, 128 for uint8);
//     asymmetric: scale = (hi-lo)/(qmax-qmin), zero point = round(qmin - lo/scale), clamped;
//  3. degenerate range (hi == lo, after widening: both 0) or non-finite bounds: see scale.cpp.
QParams compute_qparams(const Range& range, const QuantSpec& spec);
// Per channel along `axis`: one range per channel.
QParams compute_qparams(const std::vector<Range>& ranges, const QuantSpec& spec, int axis);

// One value: the code QuantizeLinear produces (round half to even, saturated to [qlo, qhi], the type's
// range), and dequantize(quantize(x)). quantize_tensor and the observers' error searches both use these.
inline int64_t quantize_value(float x, float scale, int32_t zero_point, double qlo, double qhi) {
  double v = static_cast<double>(std::nearbyint(x / scale)) + zero_point;
  return static_cast<int64_t>(std::clamp(v, qlo, qhi));
}
inline int64_t quantize_value(float x, float scale, int32_t zero_point, QType type) {
  return quantize_value(x, scale, zero_point, static_cast<double>(qtype_min(type)), static_cast<double>(qtype_max(type)));
}
inline float fake_quantize_value(float x, float scale, int32_t zero_point, double qlo, double qhi) {
  return static_cast<float>(quantize_value(x, scale, zero_point, qlo, qhi) - zero_point) * scale;
}
inline float fake_quantize_value(float x, float scale, int32_t zero_point, QType type) {
  return static_cast<float>(quantize_value(x, scale, zero_point, type) - zero_point) * scale;
}

// Float tensor -> integer tensor of params.type (per-tensor or per-axis; 4-bit types unpacked, one
// element a byte, saturated to the type's range).
Tensor quantize_tensor(const Tensor& x, const QParams& params);
// The index into params.scale / zero_point of element `flat` of a tensor of shape `shape` (per tensor 0,
// per channel its channel along params.axis, blocked its block's entry).
size_t param_index(const Shape& shape, const QParams& params, int64_t flat);
// Integer tensor -> float32.
Tensor dequantize_tensor(const Tensor& q, const QParams& params);
// dequantize(quantize(x)): the float values the quantized model computes with.
Tensor fake_quantize(const Tensor& x, const QParams& params);

}  // namespace ptq
