// SPDX-License-Identifier: Apache-2.0
// Q/DQ ops, ONNX domain (opsets 10, 13, 19, 21) and com.microsoft (same semantics; 16-bit types at any
// opset). Bit-exact with ONNX Runtime (MLAS) on the integer side:
//   QuantizeLinear    v = x / scale (a true division, as MLAS does); v clamped to [qmin - zp, qmax - zp]
//                     (NaN becomes qmin - zp, like MAXPS); q = round_half_even(v) + zp.
//                     Output type: the zero point's, else output_dtype (opset 21), else uint8.
//                     Types int4, uint4, int8, uint8, int16, uint16 ([qmin, qmax]: the type's range).
//   DequantizeLinear  y = float(int32(x) - int32(zp)) * scale, for int4, uint4, int8, uint8, int16,
//                     uint16, int32. 4-bit tensors are unpacked in memory (one int8_t/uint8_t per
//                     element, tensor.h), so they run through the 8-bit code with the 4-bit range.
//   With AVX2, 8 values at a time through the same steps (same bits).
//   Scales: a scalar or one-element tensor (per tensor), a 1-D tensor of x.shape[axis] values (per
//   axis), or with block_size > 0 (opset 21) a tensor of x's rank with ceil(x.shape[axis] / block_size)
//   along axis (blocked). Scales are float32.
//   DynamicQuantizeLinear (opset 11), uint8, as ONNX Runtime: lo = min(0, min(x)), hi = max(0, max(x)),
//   scale = hi == lo ? 1 : (hi - lo) / 255, zp = round_half_even(clamp(0 - lo / scale, 0, 255)),
//   y = QuantizeLinear(x, scale, zp).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PTQ_QDQ_AVX2 1
#endif

#include "kernels.h"
#include "parallel.h"

namespace ptq::exec {
namespace {

constexpr int64_t kChunk = 1 << 16;  // elements per parallel task

// How scale/zero-point entries map onto x viewed as [outer, dim (the axis), inner]: per tensor one
// entry; per axis entry a; blocked entry (o, a / block, i) of the scale tensor.
struct QuantLayout {
  int64_t outer = 1, dim = 1, inner = 1, block = 0;
  bool per_tensor = true;
  int64_t blocks() const { return block > 0 ? ceil_div(dim, block) : dim; }
  // Per axis on the innermost axis (MatMul/Gemm weights [K, N] per output channel): each element of
  // a row of `dim` has its own scale, so runs are single elements; for_each_row walks whole rows.
  bool per_element() const { return !per_tensor && block == 0 && inner == 1 && dim > 1; }
};

QuantLayout quant_layout(const Shape& x, const Tensor& scale, int64_t axis_attr, int64_t block) {
  QuantLayout q;
  if (scale.numel() == 1 && block == 0) return q;
  const int64_t rank = static_cast<int64_t>(x.size()), axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
  if (axis < 0 || axis >= rank) PTQ_FAIL(ModelError, "axis ", axis_attr, " is out of range for input rank ", rank);
  q.per_tensor = false;
  q.block = block;
  for (int64_t i = 0; i < axis; ++i) q.outer *= x[static_cast<size_t>(i)];
  q.dim = x[static_cast<size_t>(axis)];
  for (int64_t i = axis + 1; i < rank; ++i) q.inner *= x[static_cast<size_t>(i)];
  if (block == 0) {
    if (scale.rank() != 1 || scale.dim(0) != q.dim)
      PTQ_FAIL(ModelError, "per-axis scale of shape ", shape_str(scale.shape()), " does not match input ", shape_str(x), " on axis ", axis);
  } else {
    Shape want = x;
    want[static_cast<size_t>(axis)] = q.blocks();
    if (scale.shape() != want)
      PTQ_FAIL(ModelError, "blocked scale of shape ", shape_str(scale.shape()), " does not match input ", shape_str(x), ", expected ", shape_str(want));
  }
  return q;
}

// Calls f(begin, end, param_index) over runs of x that share one scale/zero point. Runs are split into
// chunks of at most kChunk elements and spread over threads (each element is independent).
template <class F>
void for_each_run(const QuantLayout& q, int64_t n, int threads, F f) {
  if (q.per_tensor) {
    parallel_for(threads, ceil_div(n, kChunk), [&](int64_t c) { f(c * kChunk, std::min(n, (c + 1) * kChunk), 0); }, n);
    return;
  }
  // One task per (outer, axis index) row of `inner` elements.
  const int64_t nb = q.blocks();
  parallel_for(threads, q.outer * q.dim, [&](int64_t r) {
    const int64_t o = r / q.dim, a = r % q.dim;
    const int64_t p = q.block > 0 ? (o * nb + a / q.block) * q.inner : a;
    if (q.block > 0) {
      for (int64_t i = 0; i < q.inner; ++i) f(r * q.inner + i, r * q.inner + i + 1, p + i);
    } else {
      f(r * q.inner, (r + 1) * q.inner, p);
    }
  }, n);
}

// Calls g(first) for the first element of every row of a per_element() layout (rows of q.dim), rows
// grouped into tasks of about kChunk elements spread over threads.
template <class G>
void for_each_row(const QuantLayout& q, int64_t n, int threads, G g) {
  const int64_t rows = std::max<int64_t>(1, kChunk / q.dim);
  parallel_for(threads, ceil_div(q.outer, rows), [&](int64_t t) {
    for (int64_t o = t * rows; o < std::min(q.outer, (t + 1) * rows); ++o) g(o * q.dim);
  }, n);
}

// The zero points of a per-axis layout as int32 (0 without a zero point tensor).
template <class Q>
std::vector<int32_t> zero_points(const Tensor* zp, int64_t count) {
  std::vector<int32_t> out(static_cast<size_t>(count), 0);
  if (zp)
    for (int64_t i = 0; i < count; ++i) out[static_cast<size_t>(i)] = static_cast<int32_t>(zp->data<Q>()[i]);
  return out;
}

// The integer range of a quantized type (int4 [-8, 7], ..., uint16 [0, 65535]).
struct QRange {
  int32_t lo, hi;
};
QRange q_range(DType type) {
  int64_t lo = 0, hi = 0;
  PTQ_CHECK(dtype_int_range(type, lo, hi));
  return QRange{static_cast<int32_t>(lo), static_cast<int32_t>(hi)};
}

// One value; lo = qmin - zp, hi = qmax - zp.
template <class Q>
inline Q quantize_one(float x, float scale, int32_t zp, float lo, float hi) {
  float v = x / scale;
  v = v > lo ? v : lo;  // NaN -> lo
  v = v < hi ? v : hi;
  return static_cast<Q>(static_cast<int32_t>(std::nearbyint(v)) + zp);
}

// Q is the storage type (int8_t for int4, uint8_t for uint4); r the range of the quantized type.
template <class Q>
void quantize_run(const float* x, Q* y, int64_t begin, int64_t end, float scale, int32_t zp, QRange r) {
  const float lo = static_cast<float>(r.lo - zp);
  const float hi = static_cast<float>(r.hi - zp);
  int64_t i = begin;
#ifdef PTQ_QDQ_AVX2
  // The same steps on 8 values: MAXPS gives lo for NaN, CVTPS2DQ rounds half to even.
  const __m256 vs = _mm256_set1_ps(scale), vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  const __m256i vzp = _mm256_set1_epi32(zp);
  alignas(32) int32_t q[8];
  for (; i + 8 <= end; i += 8) {
    const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), vs), vlo), vhi);
    _mm256_store_si256(reinterpret_cast<__m256i*>(q), _mm256_add_epi32(_mm256_cvtps_epi32(v), vzp));
    for (int k = 0; k < 8; ++k) y[i + k] = static_cast<Q>(q[k]);
  }
#endif
  for (; i < end; ++i) y[i] = quantize_one<Q>(x[i], scale, zp, lo, hi);
}

template <class Q>
int32_t zero_point_at(const Tensor* zp, int64_t i) {
  return zp ? static_cast<int32_t>(zp->data<Q>()[i]) : 0;
}

template <class Q>
void quantize_tensor_as(DType type, const Tensor& x, const Tensor& scale, const Tensor* zp, const QuantLayout& q, Tensor& y, int threads) {
  y = Tensor(type, x.shape());
  const float* xp = x.data<float>();
  const float* sp = scale.data<float>();
  Q* yp = y.data<Q>();
  const QRange r = q_range(type);
  if (q.per_element()) {
    const std::vector<int32_t> z = zero_points<Q>(zp, q.dim);
    for_each_row(q, x.numel(), threads, [&](int64_t first) {
      for (int64_t j = 0; j < q.dim; ++j) {
        const int32_t zj = z[static_cast<size_t>(j)];
        yp[first + j] = quantize_one<Q>(xp[first + j], sp[j], zj, static_cast<float>(r.lo - zj), static_cast<float>(r.hi - zj));
      }
    });
    return;
  }
  for_each_run(q, x.numel(), threads, [&](int64_t b, int64_t e, int64_t p) { quantize_run(xp, yp, b, e, sp[p], zero_point_at<Q>(zp, p), r); });
}

template <class Q>
void dequantize_tensor_as(const Tensor& x, const Tensor& scale, const Tensor* zp, const QuantLayout& q, Tensor& y, int threads) {
  y = Tensor(DType::Float32, x.shape());
  const Q* xp = x.data<Q>();
  const float* sp = scale.data<float>();
  float* yp = y.data<float>();
  if (q.per_element()) {
    const std::vector<int32_t> z = zero_points<Q>(zp, q.dim);
    const int32_t* zv = z.data();
    for_each_row(q, x.numel(), threads, [&](int64_t first) {
      for (int64_t j = 0; j < q.dim; ++j) yp[first + j] = static_cast<float>(static_cast<int32_t>(xp[first + j]) - zv[j]) * sp[j];
    });
    return;
  }
  for_each_run(q, x.numel(), threads, [&](int64_t b, int64_t e, int64_t p) {
    const float s = sp[p];
    const int32_t z = zero_point_at<Q>(zp, p);
    int64_t i = b;
#ifdef PTQ_QDQ_AVX2
    const __m256 vs = _mm256_set1_ps(s);
    const __m256i vz = _mm256_set1_epi32(z);
    alignas(32) int32_t w[8];
    for (; i + 8 <= e; i += 8) {
      for (int k = 0; k < 8; ++k) w[k] = static_cast<int32_t>(xp[i + k]);
      const __m256i d = _mm256_sub_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(w)), vz);
      _mm256_storeu_ps(yp + i, _mm256_mul_ps(_mm256_cvtepi32_ps(d), vs));
    }
#endif
    for (; i < e; ++i) yp[i] = static_cast<float>(static_cast<int32_t>(xp[i]) - z) * s;
  });
}

struct QdqAttrs {
  int64_t axis = 1, block = 0;
  DType output = DType::UInt8;  // QuantizeLinear without a zero point
};

QdqAttrs read_qdq(const Node& node) {
  QdqAttrs a;
  a.axis = node.attr_int("axis", 1);
  a.block = node.attr_int("block_size", 0);
  if (a.block < 0) PTQ_FAIL(ModelError, node.describe(), ": block_size must be >= 0");
  int64_t out = node.attr_int("output_dtype", 0);
  if (out != 0) a.output = dtype_from_onnx(static_cast<int>(out));
  return a;
}

struct QdqArgs {
  const Tensor& x;
  const Tensor& scale;
  const Tensor* zp;
  QuantLayout layout;
};

// The inputs of a QuantizeLinear/DequantizeLinear, checked, with the scale layout.
QdqArgs qdq_args(const KernelIO& io, const QdqAttrs& attrs) {
  const Tensor& scale = io.in(1);
  const Tensor* zp = io.has(2) ? io.inputs[2] : nullptr;
  if (scale.dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "scale dtype ", dtype_name(scale.dtype()), " is not supported (float32 is)");
  if (zp && zp->shape() != scale.shape() && !(zp->numel() == 1 && scale.numel() == 1))
    PTQ_FAIL(ModelError, "zero point of shape ", shape_str(zp->shape()), " does not match scale ", shape_str(scale.shape()));
  return QdqArgs{io.in(0), scale, zp, quant_layout(io.in(0).shape(), scale, attrs.axis, attrs.block)};
}

}  // namespace

Kernel make_quantize_linear(const Node& node) {
  expect_inputs(node, 2, 3);
  const QdqAttrs attrs = read_qdq(node);
  return [attrs](KernelIO& io) {
    if (io.in(0).dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "input dtype ", dtype_name(io.in(0).dtype()), " is not supported (float32 is)");
    const QdqArgs a = qdq_args(io, attrs);
    const Tensor& x = a.x;
    const Tensor& scale = a.scale;
    const Tensor* zp = a.zp;
    const QuantLayout& q = a.layout;
    const DType out = zp ? zp->dtype() : attrs.output;
    switch (out) {
      case DType::UInt8: case DType::UInt4: quantize_tensor_as<uint8_t>(out, x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::Int8: case DType::Int4: quantize_tensor_as<int8_t>(out, x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::UInt16: quantize_tensor_as<uint16_t>(out, x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::Int16: quantize_tensor_as<int16_t>(out, x, scale, zp, q, io.outputs[0], io.threads); break;
      default: PTQ_FAIL(UnsupportedError, "quantized type ", dtype_name(out), " is not supported (int4, uint4, int8, uint8, int16, uint16 are)");
    }
  };
}

Kernel make_dequantize_linear(const Node& node) {
  expect_inputs(node, 2, 3);
  const QdqAttrs attrs = read_qdq(node);
  return [attrs](KernelIO& io) {
    const QdqArgs a = qdq_args(io, attrs);
    const Tensor& x = a.x;
    const Tensor& scale = a.scale;
    const Tensor* zp = a.zp;
    const QuantLayout& q = a.layout;
    if (zp && zp->dtype() != x.dtype())
      PTQ_FAIL(ModelError, "zero point dtype ", dtype_name(zp->dtype()), " differs from input dtype ", dtype_name(x.dtype()));
    switch (x.dtype()) {
      case DType::UInt8: case DType::UInt4: dequantize_tensor_as<uint8_t>(x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::Int8: case DType::Int4: dequantize_tensor_as<int8_t>(x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::UInt16: dequantize_tensor_as<uint16_t>(x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::Int16: dequantize_tensor_as<int16_t>(x, scale, zp, q, io.outputs[0], io.threads); break;
      case DType::Int32: dequantize_tensor_as<int32_t>(x, scale, zp, q, io.outputs[0], io.threads); break;
      default: PTQ_FAIL(UnsupportedError, "input dtype ", dtype_name(x.dtype()), " is not supported (int4, uint4, int8, uint8, int16, uint16, int32 are)");
    }
  };
}

Kernel make_dynamic_quantize_linear(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (x.dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "input dtype ", dtype_name(x.dtype()), " is not supported (float32 is)");
    const float* xp = x.data<float>();
    float lo = std::numeric_limits<float>::max(), hi = std::numeric_limits<float>::lowest();
    for (int64_t i = 0; i < x.numel(); ++i) {
      lo = std::min(lo, xp[i]);
      hi = std::max(hi, xp[i]);
    }
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    const float scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    const float zp_f = std::max(0.0f, std::min(255.0f, 0.0f - lo / scale));
    const int32_t zp = static_cast<int32_t>(std::nearbyint(zp_f));
    io.outputs[0] = Tensor(DType::UInt8, x.shape());
    uint8_t* yp = io.outputs[0].data<uint8_t>();
    parallel_for(io.threads, ceil_div(x.numel(), kChunk), [&](int64_t c) {
      quantize_run(xp, yp, c * kChunk, std::min(x.numel(), (c + 1) * kChunk), scale, zp, q_range(DType::UInt8));
    });
    if (io.outputs.size() > 1) io.outputs[1] = Tensor::scalar<float>(scale);
    if (io.outputs.size() > 2) io.outputs[2] = Tensor::scalar<uint8_t>(static_cast<uint8_t>(zp));
  };
}

}  // namespace ptq::exec
