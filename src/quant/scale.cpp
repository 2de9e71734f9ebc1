// SPDX-License-Identifier: Apache-2.0
// compute_qparams (see scale.h for the rules). Scale is computed in double and stored as float32;
// the zero point is computed from the stored float scale, so the grid written to the model is the
// grid ptq evaluates with.
//
// Degenerate cases, documented and tested:
//  - lo == hi == 0 after widening (an all-zero tensor): scale 1, zero point 0 (the symmetric
//    midpoint for symmetric unsigned types), so 0 maps exactly to 0;
//  - a scale below FLT_MIN (a range of denormal width): treated like the all-zero case;
//  - lo > hi, NaN or infinite bounds: Error (observers must not produce them).
// Symmetric with reduce_range: the reduced range is used and the zero point is its midpoint.
#include "ptq/quant/scale.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "ptq/util/error.h"

namespace ptq {
namespace {

void compute_one(Range r, const QuantSpec& spec, float& scale, int32_t& zero_point) {
  if (!std::isfinite(r.lo) || !std::isfinite(r.hi))
    PTQ_FAIL(Error, "range [", r.lo, ", ", r.hi, "] is not finite");
  if (r.lo > r.hi) PTQ_FAIL(Error, "range [", r.lo, ", ", r.hi, "] has lo > hi");
  const double qmin = static_cast<double>(spec.qmin()), qmax = static_cast<double>(spec.qmax());
  double lo = std::min<double>(r.lo, 0.0), hi = std::max<double>(r.hi, 0.0);
  const double mid = std::nearbyint((qmin + qmax) / 2.0);
  if (spec.symmetric) {
    double absmax = std::max(-lo, hi);
    lo = -absmax;
    hi = absmax;
  }
  double s = (hi - lo) / (qmax - qmin);
  if (!(s >= static_cast<double>(FLT_MIN))) {
    scale = 1.0f;
    zero_point = static_cast<int32_t>(spec.symmetric ? mid : std::clamp(0.0, qmin, qmax));
    return;
  }
  scale = static_cast<float>(s);
  if (spec.symmetric) {
    zero_point = static_cast<int32_t>(mid);
  } else {
    double zp = std::nearbyint(qmin - lo / static_cast<double>(scale));
    zero_point = static_cast<int32_t>(std::clamp(zp, qmin, qmax));
  }
}

struct AxisLayout {
  int64_t channels = 1;
  int64_t inner = 1;  // elements per channel run
  int64_t block = 0, dim = 1;  // blocked: block size and the length of the blocked axis
};

AxisLayout layout_of(const Tensor& t, const QParams& p) {
  AxisLayout l;
  if (!p.per_channel()) {
    if (p.scale.size() != 1 || p.zero_point.size() != 1) PTQ_FAIL(Error, "per-tensor params need one scale and one zero point");
    return l;
  }
  if (p.axis >= t.rank()) PTQ_FAIL(Error, "quantization axis ", p.axis, " out of range for shape ", shape_str(t.shape()));
  if (p.blocked()) {
    const Shape want = blocked_scale_shape(t.shape(), p.axis, p.block);
    if (p.scale_shape != want || static_cast<int64_t>(p.scale.size()) != shape_numel(want) || p.zero_point.size() != p.scale.size())
      PTQ_FAIL(Error, "blocked params of shape ", shape_str(p.scale_shape), " (", p.scale.size(), " scales) do not fit a tensor of shape ",
               shape_str(t.shape()), " blocked by ", p.block, " along axis ", p.axis, ", expected ", shape_str(want));
    l.block = p.block;
    l.dim = t.shape()[static_cast<size_t>(p.axis)];
    l.channels = static_cast<int64_t>(p.scale.size());
    for (int d = p.axis + 1; d < t.rank(); ++d) l.inner *= t.shape()[static_cast<size_t>(d)];
    return l;
  }
  l.channels = t.shape()[static_cast<size_t>(p.axis)];
  for (int d = p.axis + 1; d < t.rank(); ++d) l.inner *= t.shape()[static_cast<size_t>(d)];
  if (static_cast<int64_t>(p.scale.size()) != l.channels || static_cast<int64_t>(p.zero_point.size()) != l.channels)
    PTQ_FAIL(Error, "per-channel params have ", p.scale.size(), " scales for ", l.channels, " channels");
  return l;
}

// Calls fn(channel, first, last) for every run of elements sharing one channel's parameters.
template <class Fn>
void for_each_run(int64_t n, const AxisLayout& l, Fn fn) {
  if (l.block > 0) {  // blocked: element (o, a, j) uses entry (o·blocks + a / block)·inner + j
    const int64_t blocks = (l.dim + l.block - 1) / l.block;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = i % l.inner, a = (i / l.inner) % l.dim, o = i / (l.inner * l.dim);
      fn(static_cast<size_t>((o * blocks + a / l.block) * l.inner + j), i, i + 1);
    }
    return;
  }
  if (l.channels == 1) return fn(size_t{0}, int64_t{0}, n);  // per tensor: one run
  for (int64_t i = 0; i < n;)
    for (int64_t c = 0; c < l.channels && i < n; ++c, i += l.inner) fn(static_cast<size_t>(c), i, std::min(n, i + l.inner));
}

// quantize_value in float: up to 16 bits every code and zero point is exact in float, so this gives the
// same codes (x / scale is a float division in both; a sum beyond 2^24 saturates either way) and
// vectorizes. NaN goes through int32 as quantize_value's goes through int64.
template <class Q>
inline Q quantize_float(float x, float scale, float zero_point, float lo, float hi) {
  float v = std::nearbyint(x / scale) + zero_point;
  v = v < lo ? lo : (v > hi ? hi : v);
  return static_cast<Q>(static_cast<int32_t>(v));
}

template <class Q>
void quantize_into(const float* x, Q* q, int64_t n, const QParams& p, const AxisLayout& l) {
  const double lo = static_cast<double>(qtype_min(p.type)), hi = static_cast<double>(qtype_max(p.type));
  if constexpr (sizeof(Q) > 2) {
    for_each_run(n, l, [&](size_t c, int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) q[i] = static_cast<Q>(quantize_value(x[i], p.scale[c], p.zero_point[c], lo, hi));
    });
  } else {
    const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
    if (l.block == 0 && l.inner == 1 && l.channels > 1) {
      // Channels along the last axis (MatMul/Gemm weights [K, N]): row by row against the channel vectors.
      const std::vector<float> zero(p.zero_point.begin(), p.zero_point.end());
      const float* scale = p.scale.data();
      for (int64_t r = 0; r < n; r += l.channels) {
        const int64_t m = std::min(l.channels, n - r);
        for (int64_t j = 0; j < m; ++j) q[r + j] = quantize_float<Q>(x[r + j], scale[j], zero[static_cast<size_t>(j)], flo, fhi);
      }
      return;
    }
    for_each_run(n, l, [&](size_t c, int64_t first, int64_t last) {
      const float s = p.scale[c], z = static_cast<float>(p.zero_point[c]);
      for (int64_t i = first; i < last; ++i) q[i] = quantize_float<Q>(x[i], s, z, flo, fhi);
    });
  }
}

template <class Q>
void dequantize_into(const Q* q, float* x, int64_t n, const QParams& p, const AxisLayout& l) {
  for_each_run(n, l, [&](size_t c, int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) x[i] = static_cast<float>(static_cast<int64_t>(q[i]) - p.zero_point[c]) * p.scale[c];
  });
}

}  // namespace

QParams compute_qparams(const Range& range, const QuantSpec& spec) {
  QParams p;
  p.type = spec.type;
  p.scale.resize(1);
  p.zero_point.resize(1);
  compute_one(range, spec, p.scale[0], p.zero_point[0]);
  return p;
}

QParams compute_qparams(const std::vector<Range>& ranges, const QuantSpec& spec, int axis) {
  QParams p;
  p.type = spec.type;
  p.axis = axis;
  p.scale.resize(ranges.size());
  p.zero_point.resize(ranges.size());
  for (size_t c = 0; c < ranges.size(); ++c) compute_one(ranges[c], spec, p.scale[c], p.zero_point[c]);
  return p;
}

size_t param_index(const Shape& shape, const QParams& p, int64_t flat) {
  if (!p.per_channel()) return 0;
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(p.axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  const int64_t dim = shape[static_cast<size_t>(p.axis)], a = (flat / inner) % dim;
  if (!p.blocked()) return static_cast<size_t>(a);
  const int64_t blocks = (dim + p.block - 1) / p.block, o = flat / (inner * dim);
  return static_cast<size_t>((o * blocks + a / p.block) * inner + flat % inner);
}

Tensor quantize_tensor(const Tensor& x, const QParams& p) {
  AxisLayout l = layout_of(x, p);
  Tensor q(qtype_dtype(p.type), x.shape());
  const float* px = x.data<float>();
  switch (p.type) {
    case QType::Int8: quantize_into(px, q.data<int8_t>(), x.numel(), p, l); break;
    case QType::UInt8: quantize_into(px, q.data<uint8_t>(), x.numel(), p, l); break;
    case QType::Int16: quantize_into(px, q.data<int16_t>(), x.numel(), p, l); break;
    case QType::UInt16: quantize_into(px, q.data<uint16_t>(), x.numel(), p, l); break;
    case QType::Int32: quantize_into(px, q.data<int32_t>(), x.numel(), p, l); break;
    case QType::Int4: quantize_into(px, q.data<int8_t>(), x.numel(), p, l); break;   // unpacked
    case QType::UInt4: quantize_into(px, q.data<uint8_t>(), x.numel(), p, l); break;
  }
  return q;
}

Tensor dequantize_tensor(const Tensor& q, const QParams& p) {
  AxisLayout l = layout_of(q, p);
  Tensor x(DType::Float32, q.shape());
  float* px = x.data<float>();
  switch (p.type) {
    case QType::Int8: dequantize_into(q.data<int8_t>(), px, q.numel(), p, l); break;
    case QType::UInt8: dequantize_into(q.data<uint8_t>(), px, q.numel(), p, l); break;
    case QType::Int16: dequantize_into(q.data<int16_t>(), px, q.numel(), p, l); break;
    case QType::UInt16: dequantize_into(q.data<uint16_t>(), px, q.numel(), p, l); break;
    case QType::Int32: dequantize_into(q.data<int32_t>(), px, q.numel(), p, l); break;
    case QType::Int4: dequantize_into(q.data<int8_t>(), px, q.numel(), p, l); break;
    case QType::UInt4: dequantize_into(q.data<uint8_t>(), px, q.numel(), p, l); break;
  }
  return x;
}

Tensor fake_quantize(const Tensor& x, const QParams& p) {
  // One pass, the arithmetic of quantize_into then dequantize_into (same bits, no integer tensor).
  AxisLayout l = layout_of(x, p);
  Tensor y(DType::Float32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const double lo = static_cast<double>(qtype_min(p.type)), hi = static_cast<double>(qtype_max(p.type));
  if (p.type == QType::Int32) {
    for_each_run(x.numel(), l, [&](size_t c, int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) py[i] = fake_quantize_value(px[i], p.scale[c], p.zero_point[c], lo, hi);
    });
    return y;
  }
  // Up to 16 bits every code and zero point is exact in float, so the same arithmetic in float gives the
  // same bits (x / scale is a float division in both) and vectorizes. A NaN stays NaN.
  const float flo = static_cast<float>(lo), fhi = static_cast<float>(hi);
  for_each_run(x.numel(), l, [&](size_t c, int64_t first, int64_t last) {
    const float s = p.scale[c], z = static_cast<float>(p.zero_point[c]);
    for (int64_t i = first; i < last; ++i) {
      float v = std::nearbyint(px[i] / s) + z;
      v = v < flo ? flo : (v > fhi ? fhi : v);
      py[i] = (v - z) * s;
    }
  });
  return y;
}

}  // namespace ptq
