// SPDX-License-Identifier: Apache-2.0
// Shape and view ops: no data is copied (the output shares the input's buffer) or only metadata is
// produced.
//   Identity, Dropout (inference: identity; mask all true)
//   Reshape-5+ (shape input; 0 copies the input dim unless allowzero=1, one -1 is inferred)
//   Flatten (axis in [-r, r], default 1) -> [prod(dims[:axis]), prod(dims[axis:])]
//   Squeeze/Unsqueeze: axes attribute before opset 13, optional/required input from 13
//   Shape (start/end from opset 15, clamped like Python slices), Size
#include <algorithm>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

// Axes of Squeeze/Unsqueeze: the attribute before opset 13, input 1 from 13 (empty when absent).
Shape axes_of(const KernelIO& io, const Shape& attr_axes, bool from_input) {
  if (!from_input) return attr_axes;
  return io.has(1) ? read_ints(io.in(1), "axes") : Shape{};
}

}  // namespace

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
    const Shape req = read_ints(io.in(1), "shape");
    Shape out(req.size());
    int infer = -1;
    int64_t known = 1;
    for (size_t i = 0; i < out.size(); ++i) {
      int64_t d = req[i];
      if (d == 0 && !allow_zero) {
        if (i >= static_cast<size_t>(x.rank())) PTQ_FAIL(ModelError, "shape ", shape_str(req), ": 0 at dim ", i, " beyond the input's rank");
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
        PTQ_FAIL(ModelError, "cannot reshape ", shape_str(x.shape()), " to ", shape_str(req));
      out[static_cast<size_t>(infer)] = x.numel() / known;
    }
    if (shape_numel(out) != x.numel())
      PTQ_FAIL(ModelError, "cannot reshape ", shape_str(x.shape()), " to ", shape_str(out));
    io.outputs[0] = x.reshaped(out);
  };
}

Kernel make_flatten(const Node& node) {
  expect_inputs(node, 1, 1);
  const int64_t axis = node.attr_int("axis", 1);
  return [axis](KernelIO& io) {
    const Tensor& x = io.in(0);
    const int64_t r = x.rank();
    if (axis < -r || axis > r) PTQ_FAIL(ModelError, "axis ", axis, " is out of range for rank ", r);
    const size_t a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    int64_t outer = 1, inner = 1;
    for (size_t i = 0; i < x.shape().size(); ++i) (i < a ? outer : inner) *= x.shape()[i];
    io.outputs[0] = x.reshaped({outer, inner});
  };
}

Kernel make_squeeze(const Node& node) {
  const bool from_input = node.opset >= 13;
  expect_inputs(node, 1, from_input ? 2 : 1);
  const std::vector<int64_t> attr_axes = node.attr_ints("axes");
  return [attr_axes, from_input](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Shape axes = axes_of(io, attr_axes, from_input);
    Shape drop(static_cast<size_t>(x.rank()), 0);  // 1 per squeezed dim
    for (int64_t a : axes) {
      int k = normalize_axis(a, x.rank(), "axes value");
      if (x.shape()[static_cast<size_t>(k)] != 1)
        PTQ_FAIL(ModelError, "cannot squeeze dim ", k, " of size ", x.shape()[static_cast<size_t>(k)], " (shape ", shape_str(x.shape()), ")");
      drop[static_cast<size_t>(k)] = 1;
    }
    Shape out;
    for (int i = 0; i < x.rank(); ++i) {
      bool squeezed = axes.empty() ? x.shape()[static_cast<size_t>(i)] == 1 : drop[static_cast<size_t>(i)] != 0;
      if (!squeezed) out.push_back(x.shape()[static_cast<size_t>(i)]);
    }
    io.outputs[0] = x.reshaped(out);
  };
}

Kernel make_unsqueeze(const Node& node) {
  const bool from_input = node.opset >= 13;
  expect_inputs(node, from_input ? 2 : 1, from_input ? 2 : 1);
  const std::vector<int64_t> attr_axes = node.attr_ints("axes");
  return [attr_axes, from_input](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Shape axes = axes_of(io, attr_axes, from_input);
    const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
    Shape inserted(static_cast<size_t>(out_rank), 0);
    for (int64_t a : axes) {
      int k = normalize_axis(a, out_rank, "axes value");
      if (inserted[static_cast<size_t>(k)]) PTQ_FAIL(ModelError, "axes value ", a, " is repeated");
      inserted[static_cast<size_t>(k)] = 1;
    }
    Shape out;
    size_t next = 0;
    for (size_t i = 0; i < inserted.size(); ++i) out.push_back(inserted[i] ? 1 : x.shape()[next++]);
    io.outputs[0] = x.reshaped(out);
  };
}

Kernel make_shape(const Node& node) {
  expect_inputs(node, 1, 1);
  const int64_t start = node.attr_int("start", 0);
  const bool has_end = node.has_attr("end");
  const int64_t end = node.attr_int("end", 0);
  return [start, has_end, end](KernelIO& io) {
    const Shape& s = io.in(0).shape();
    const int64_t r = static_cast<int64_t>(s.size());
    auto clamp = [r](int64_t v) { return std::clamp(v < 0 ? v + r : v, int64_t{0}, r); };
    const int64_t b = clamp(start), e = has_end ? clamp(end) : r;
    std::vector<int64_t> dims;
    for (int64_t i = b; i < e; ++i) dims.push_back(s[static_cast<size_t>(i)]);
    io.outputs[0] = Tensor::from_vector<int64_t>(dims, {static_cast<int64_t>(dims.size())});
  };
}

Kernel make_size(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) { io.outputs[0] = Tensor::scalar<int64_t>(io.in(0).numel()); };
}

// Dropout at inference: the output is the input. Opset 12+ takes ratio and training_mode inputs;
// training_mode = true is only accepted with ratio 0 (random masks are not reproducible).
// The mask output is bool (opset 10+) or the input's dtype (before 10), all true/ones.
Kernel make_dropout(const Node& node) {
  expect_inputs(node, 1, node.opset >= 12 ? 3 : 1);
  const bool bool_mask = node.opset >= 10;
  return [bool_mask](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (io.has(2) && io.in(2).numel() == 1 && cast_tensor(io.in(2), DType::Bool).data<uint8_t>()[0] != 0) {
      const double ratio = io.has(1) ? read_scalar(io.in(1), "ratio") : 0.5;
      if (ratio != 0.0) PTQ_FAIL(UnsupportedError, "training_mode = true with ratio ", ratio, " (random dropout) is not supported");
    }
    io.outputs[0] = x;
    if (io.outputs.size() > 1) {
      Tensor ones = cast_tensor(Tensor::from_vector<uint8_t>({1}, {}), bool_mask ? DType::Bool : x.dtype());
      Tensor mask(ones.dtype(), x.shape());
      const size_t size = dtype_size(mask.dtype());
      for (int64_t i = 0; i < mask.numel(); ++i)
        std::copy_n(static_cast<const char*>(ones.raw()), size, static_cast<char*>(mask.raw()) + i * static_cast<int64_t>(size));
      io.outputs[1] = mask;
    }
  };
}

}  // namespace ptq::exec
