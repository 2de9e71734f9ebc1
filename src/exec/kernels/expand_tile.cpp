// SPDX-License-Identifier: Apache-2.0
// Broadcasting copies.
//   Expand: out shape = numpy broadcast of the input shape and the shape input (which may be smaller
//     than the input in any dim of size 1 or rank); walked with stride 0 along broadcast dims.
//   Tile-6+: out dim d = in dim d · repeats[d]; the output is the strided view
//     [r0, d0, r1, d1, ...] with strides [0, s0, 0, s1, ...] of the input.
#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

Tensor strided_view_copy(const Tensor& x, const Shape& dims, const Shape& stride, const Shape& out_shape) {
  Tensor out(x.dtype(), out_shape);
  if (out.numel() == 0) return out;
  dispatch_bytes(x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    strided_copy<U>(raw_as<U>(x), 0, raw_as<U>(out), dims, stride);
  });
  return out;
}

}  // namespace

Kernel make_expand(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Shape req = read_ints(io.in(1), "shape");
    const Shape out_shape = broadcast_shapes(x.shape(), Shape(req.begin(), req.end()));
    const size_t r = out_shape.size(), lead = r - x.shape().size();
    const Shape xs = strides_of(x.shape());
    Shape stride(r, 0);
    for (size_t i = lead; i < r; ++i) stride[i] = x.shape()[i - lead] == 1 ? 0 : xs[i - lead];
    io.outputs[0] = strided_view_copy(x, out_shape, stride, out_shape);
  };
}

Kernel make_tile(const Node& node) {
  if (node.opset < 6) PTQ_FAIL(UnsupportedError, "Tile before opset 6 (tiles/axis inputs) is not supported");
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Shape reps = read_ints(io.in(1), "repeats");
    if (reps.size() != static_cast<size_t>(x.rank()))
      PTQ_FAIL(ModelError, "repeats has ", reps.size(), " values for rank ", x.rank());
    const Shape xs = strides_of(x.shape());
    Shape dims, out_shape;
    Shape stride;
    for (size_t i = 0; i < reps.size(); ++i) {
      if (reps[i] < 0) PTQ_FAIL(ModelError, "negative repeat ", reps[i]);
      dims.insert(dims.end(), {reps[i], x.shape()[i]});
      stride.insert(stride.end(), {0, xs[i]});
      out_shape.push_back(reps[i] * x.shape()[i]);
    }
    io.outputs[0] = strided_view_copy(x, dims, stride, out_shape);
  };
}

}  // namespace ptq::exec
