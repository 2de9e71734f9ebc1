// SPDX-License-Identifier: Apache-2.0
// compute_qparams: the one function that turns a range into scale and zero point, used by every
// observer and for weights. Quantize/dequantize helpers with ONNX QuantizeLinear semantics.
#pragma once

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

// Float tensor -> integer tensor of params.type (per-tensor or per-axis).
Tensor quantize_tensor(const Tensor& x, const QParams& params);
// Integer tensor -> float32.
Tensor dequantize_tensor(const Tensor& q, const QParams& params);
// dequantize(quantize(x)): the float values the quantized model computes with.
Tensor fake_quantize(const Tensor& x, const QParams& params);

}  // namespace ptq
