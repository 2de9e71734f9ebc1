// SPDX-License-Identifier: Apache-2.0
// Cast (target dtype from the 'to' attribute) and CastLike (target dtype of input 1).
// Between the numeric dtypes (float32/64 and 8-64 bit integers) values convert as C++ does, except
// float -> integer, which truncates toward zero through int64 (non-finite values give 0), the same
// rule as ptq::cast_tensor; any -> bool is "!= 0". float16 goes through float32 (round to nearest
// even). float32 -> bfloat16 rounds to nearest even (NaN stays NaN), as ONNX Runtime does.
// String tensors are not supported.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class S, class D>
void convert(const S* in, D* out, int64_t n) {
  if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
    for (int64_t i = 0; i < n; ++i) out[i] = std::isfinite(in[i]) ? static_cast<D>(static_cast<int64_t>(in[i])) : D(0);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<D>(in[i]);
  }
}

uint16_t float_to_bfloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return 0x7fc0;
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<uint16_t>(bits >> 16);
}

Tensor cast_to(const Tensor& x, DType to) {
  if (x.dtype() == to) return x;
  if (x.dtype() == DType::String || to == DType::String) PTQ_FAIL(UnsupportedError, "string tensors are not supported");
  if (to == DType::BFloat16) {
    Tensor f = cast_tensor(x, DType::Float32);
    Tensor out(DType::BFloat16, x.shape());
    const float* p = f.data<float>();
    uint16_t* o = out.data<uint16_t>();
    for (int64_t i = 0; i < x.numel(); ++i) o[i] = float_to_bfloat16(p[i]);
    return out;
  }
  const bool numeric = dtype_size(x.dtype()) > 0 && x.dtype() != DType::Float16 && x.dtype() != DType::BFloat16 &&
                       x.dtype() != DType::Bool && to != DType::Float16 && to != DType::Bool;
  if (!numeric) return cast_tensor(x, to);
  Tensor out(to, x.shape());
  dispatch(x.dtype(), NumericTypes{}, [&](auto src) {
    using S = decltype(src);
    dispatch(to, NumericTypes{}, [&](auto dst) {
      using D = decltype(dst);
      convert<S, D>(x.data<S>(), out.data<D>(), x.numel());
    });
  });
  return out;
}

}  // namespace

Kernel make_cast(const Node& node) {
  expect_inputs(node, 1, 1);
  if (!node.has_attr("to")) PTQ_FAIL(ModelError, node.describe(), ": attribute 'to' is required");
  const DType to = dtype_from_onnx(static_cast<int>(node.attr_int("to", 0)));
  if (to == DType::Undefined || to == DType::String)
    PTQ_FAIL(UnsupportedError, "cast to ONNX type ", node.attr_int("to", 0), " is not supported");
  return [to](KernelIO& io) { io.outputs[0] = cast_to(io.in(0), to); };
}

Kernel make_cast_like(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) { io.outputs[0] = cast_to(io.in(0), io.in(1).dtype()); };
}

}  // namespace ptq::exec
