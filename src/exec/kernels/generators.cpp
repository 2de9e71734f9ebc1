// SPDX-License-Identifier: Apache-2.0
// Ops that create tensors from small inputs.
//   ConstantOfShape: shape from input 0 (int64), filled with the one-element 'value' attribute
//     (default float32 0).
//   Range: start, limit, delta scalars of one dtype; n = max(ceil((limit - start) / delta), 0),
//     out[i] = start + i·delta.
#include <cmath>
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {

Kernel make_constant_of_shape(const Node& node) {
  expect_inputs(node, 1, 1);
  Tensor value = Tensor::zeros(DType::Float32, {});
  if (const Tensor* v = node.attr_tensor("value")) {
    if (v->numel() != 1) PTQ_FAIL(ModelError, node.describe(), ": 'value' must hold one element, got shape ", shape_str(v->shape()));
    value = *v;
  }
  return [value](KernelIO& io) {
    const Shape dims = read_ints(io.in(0), "shape");
    for (int64_t d : dims)
      if (d < 0) PTQ_FAIL(ModelError, "negative dimension ", d, " in shape");
    Tensor out(value.dtype(), Shape(dims.begin(), dims.end()));
    const size_t size = dtype_size(value.dtype());
    char* p = static_cast<char*>(out.raw());
    for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(p + static_cast<size_t>(i) * size, value.raw(), size);
    io.outputs[0] = out;
  };
}

Kernel make_range(const Node& node) {
  expect_inputs(node, 3, 3);
  return [](KernelIO& io) {
    const Tensor& start = io.in(0);
    for (size_t k = 0; k < 3; ++k) {
      if (io.in(k).dtype() != start.dtype()) PTQ_FAIL(ModelError, "start, limit and delta must have one dtype");
      if (io.in(k).numel() != 1) PTQ_FAIL(ModelError, "start, limit and delta must be scalars");
    }
    dispatch(start.dtype(), Types<float, double, int16_t, int32_t, int64_t>{}, [&](auto tag) {
      using T = decltype(tag);
      const T s = start.data<T>()[0], limit = io.in(1).data<T>()[0], delta = io.in(2).data<T>()[0];
      if (delta == T(0)) PTQ_FAIL(ModelError, "delta is 0");
      const double steps = std::ceil((static_cast<double>(limit) - static_cast<double>(s)) / static_cast<double>(delta));
      const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(steps));
      Tensor out(start.dtype(), {n});
      T* p = out.data<T>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(s + static_cast<T>(i) * delta);
      io.outputs[0] = out;
    });
  };
}

}  // namespace ptq::exec
