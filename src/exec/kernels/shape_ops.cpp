// SPDX-License-Identifier: Apache-2.0
// Shape and data-movement ops that only change the view of a buffer (no copy).
#include "kernels.h"

namespace ptq::exec {

Kernel make_identity(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) { io.outputs[0] = io.in(0); };
}

// Reshape-5/13/14: shape from input 1; 0 copies the input dim (unless allowzero=1), -1 is inferred.
// Reshape-1 (shape attribute) is rejected.
Kernel make_reshape(const Node& node) {
  if (node.opset < 5) PTQ_FAIL(UnsupportedError, "Reshape before opset 5 (shape attribute) is not supported");
  expect_inputs(node, 2, 2);
  bool allow_zero = node.attr_int("allowzero", 0) != 0;
  return [allow_zero](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor& s = io.in(1);
    if (s.dtype() != DType::Int64 || s.rank() != 1) PTQ_FAIL(ModelError, "shape input must be a 1-D int64 tensor");
    const int64_t* req = s.data<int64_t>();
    Shape out(static_cast<size_t>(s.numel()));
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t d = req[i];
      if (d == 0 && !allow_zero) {
        if (i >= static_cast<size_t>(x.rank())) PTQ_FAIL(ModelError, "shape ", shape_str(Shape(req, req + out.size())), ": 0 at dim ", i, " beyond the input's rank");
        d = x.shape()[i];
      }
      if (d == -1) {
        if (infer >= 0) PTQ_FAIL(ModelError, "shape has more than one -1");
        infer = static_cast<int>(i);
        d = 1;
      } else if (d < 0) {
        PTQ_FAIL(ModelError, "negative dimension ", d, " in shape");
      } else {
        known *= d;
      }
      out[i] = d;
    }
    if (infer >= 0) {
      if (known == 0 || x.numel() % known != 0)
        PTQ_FAIL(ModelError, "cannot reshape ", shape_str(x.shape()), " to ", shape_str(Shape(req, req + out.size())));
      out[static_cast<size_t>(infer)] = x.numel() / known;
    }
    if (shape_numel(out) != x.numel())
      PTQ_FAIL(ModelError, "cannot reshape ", shape_str(x.shape()), " to ", shape_str(out));
    io.outputs[0] = x.reshaped(out);
  };
}

}  // namespace ptq::exec
