// SPDX-License-Identifier: Apache-2.0
// Clip: y = min(max(x, lo), hi).
// Opset 1/6: lo and hi are the float attributes min/max (defaults: the lowest and highest float).
// Opset 11+: lo and hi are optional scalar inputs 1 and 2 (defaults: the dtype's lowest and highest
// value); opset 12+ also takes integer dtypes. NaN propagates. With lo > hi every output is hi.
#include <limits>

#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class T>
void clip_values(const Tensor& x, T lo, T hi, Tensor& out, int threads) {
  unary_kernel<T>(x, out, [lo, hi](T v) { return std::min(std::max(v, lo), hi); }, threads);
}

// Bound k (1 = min, 2 = max) from an input, or the dtype's extreme when omitted.
template <class T>
T bound(const KernelIO& io, size_t k, T fallback) {
  if (!io.has(k)) return fallback;
  const Tensor& t = io.in(k);
  if (t.dtype() != DTypeOf<T>::value)
    PTQ_FAIL(ModelError, k == 1 ? "min" : "max", " has dtype ", dtype_name(t.dtype()), ", expected ",
             dtype_name(DTypeOf<T>::value));
  if (t.numel() != 1) PTQ_FAIL(ModelError, k == 1 ? "min" : "max", " must be a scalar, got shape ", shape_str(t.shape()));
  return t.data<T>()[0];
}

}  // namespace

Kernel make_clip(const Node& node) {
  if (node.opset < 11) {
    expect_inputs(node, 1, 1);
    const float lo = node.attr_float("min", std::numeric_limits<float>::lowest());
    const float hi = node.attr_float("max", std::numeric_limits<float>::max());
    return [lo, hi](KernelIO& io) {
      const Tensor& x = io.in(0);
      dispatch(x.dtype(), FloatTypes{}, [&](auto tag) {
        using T = decltype(tag);
        clip_values<T>(x, static_cast<T>(lo), static_cast<T>(hi), io.outputs[0], io.threads);
      });
    };
  }
  expect_inputs(node, 1, 3);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    dispatch(x.dtype(), NumericTypes{}, [&](auto tag) {
      using T = decltype(tag);
      T lo = bound<T>(io, 1, std::numeric_limits<T>::lowest());
      T hi = bound<T>(io, 2, std::numeric_limits<T>::max());
      clip_values<T>(x, lo, hi, io.outputs[0], io.threads);
    });
  };
}

}  // namespace ptq::exec
