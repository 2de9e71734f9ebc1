// SPDX-License-Identifier: Apache-2.0
// Unary elementwise ops: each is a scalar function dispatched by unary_kernel.
#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

inline float op_relu(float x) { return x > 0.0f ? x : 0.0f; }

template <float (*F)(float)>
Kernel float_unary(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (x.dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(x.dtype()), " is not supported");
    unary_kernel<float>(x, io.outputs[0], F);
  };
}

}  // namespace

Kernel make_relu(const Node& node) { return float_unary<op_relu>(node); }

}  // namespace ptq::exec
