// SPDX-License-Identifier: Apache-2.0
// Indexing ops.
//   Slice: starts/ends/axes attributes before opset 10; inputs starts, ends, axes, steps from 10.
//     Per axis of size d: negative starts/ends add d; step > 0 clamps start and end to [0, d];
//     step < 0 clamps start to [0, d-1] and end to [-1, d-1]; length = max(0, ceil((end-start)/step)).
//   Gather: out = data[:axis] ++ indices.shape ++ data[axis+1:], indices int32/int64, negative ones
//     count from the end.
//   GatherElements: out has the indices' shape; out[i] = data[i with i[axis] replaced by indices[i]].
// Out-of-range indices throw DataError.
#include <algorithm>
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

struct SliceArgs {
  Shape starts, ends, axes, steps;
};

SliceArgs slice_args(const KernelIO& io, const SliceArgs& attrs, bool from_inputs, int64_t rank) {
  SliceArgs a = attrs;
  if (from_inputs) {
    a.starts = read_ints(io.in(1), "starts");
    a.ends = read_ints(io.in(2), "ends");
    a.axes = io.has(3) ? read_ints(io.in(3), "axes") : Shape{};
    a.steps = io.has(4) ? read_ints(io.in(4), "steps") : Shape{};
  }
  if (a.ends.size() != a.starts.size()) PTQ_FAIL(ModelError, "starts and ends have different lengths");
  if (a.axes.empty())
    for (size_t i = 0; i < a.starts.size(); ++i) a.axes.push_back(static_cast<int64_t>(i));
  if (a.steps.empty()) a.steps.assign(a.starts.size(), 1);
  if (a.axes.size() != a.starts.size() || a.steps.size() != a.starts.size())
    PTQ_FAIL(ModelError, "starts, ends, axes and steps have different lengths");
  for (auto& ax : a.axes) ax = normalize_axis(ax, rank, "axes value");
  return a;
}

}  // namespace

Kernel make_slice(const Node& node) {
  const bool from_inputs = node.opset >= 10;
  expect_inputs(node, from_inputs ? 3 : 1, from_inputs ? 5 : 1);
  SliceArgs attrs;
  if (!from_inputs) {
    attrs.starts = node.attr_ints("starts");
    attrs.ends = node.attr_ints("ends");
    attrs.axes = node.attr_ints("axes");
  }
  return [attrs, from_inputs](KernelIO& io) {
    const Tensor& x = io.in(0);
    const SliceArgs a = slice_args(io, attrs, from_inputs, x.rank());
    const Shape in_stride = strides_of(x.shape());
    Shape out_shape = x.shape();
    Shape stride = in_stride;
    int64_t base = 0;
    for (size_t k = 0; k < a.axes.size(); ++k) {
      const size_t ax = static_cast<size_t>(a.axes[k]);
      const int64_t d = x.shape()[ax], step = a.steps[k];
      if (step == 0) PTQ_FAIL(ModelError, "slice step is 0");
      int64_t s = a.starts[k] < 0 ? a.starts[k] + d : a.starts[k];
      int64_t e = a.ends[k] < 0 ? a.ends[k] + d : a.ends[k];
      if (step > 0) {
        s = std::clamp<int64_t>(s, 0, d);
        e = std::clamp<int64_t>(e, 0, d);
      } else {
        s = std::clamp<int64_t>(s, 0, d - 1);
        e = std::clamp<int64_t>(e, -1, d - 1);
      }
      const int64_t len = step > 0 ? (e - s + step - 1) / step : (s - e - step - 1) / -step;
      out_shape[ax] = std::max<int64_t>(0, len);
      base += s * in_stride[ax];
      stride[ax] = in_stride[ax] * step;
    }
    Tensor out(x.dtype(), out_shape);
    if (out.numel() > 0)
      dispatch_bytes(x.dtype(), [&](auto tag) {
        using U = decltype(tag);
        strided_copy<U>(raw_as<U>(x), base, raw_as<U>(out), out_shape, stride, io.threads);
      });
    io.outputs[0] = out;
  };
}

Kernel make_gather(const Node& node) {
  expect_inputs(node, 2, 2);
  const int64_t axis_attr = node.attr_int("axis", 0);
  return [axis_attr](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor& ind = io.in(1);
    const int axis = normalize_axis(axis_attr, x.rank());
    const int64_t d = x.dim(axis);
    const std::vector<int64_t> idx = read_indices(ind, d, axis);
    Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
    out_shape.insert(out_shape.end(), ind.shape().begin(), ind.shape().end());
    out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
    int64_t outer = 1, inner = static_cast<int64_t>(dtype_size(x.dtype()));
    for (int i = 0; i < x.rank(); ++i) (i < axis ? outer : inner) *= i == axis ? 1 : x.dim(i);
    Tensor out(x.dtype(), out_shape);
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(out.raw());
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t k : idx) {
        std::memcpy(dst, src + (o * d + k) * inner, static_cast<size_t>(inner));
        dst += inner;
      }
    }
    io.outputs[0] = out;
  };
}

Kernel make_gather_elements(const Node& node) {
  expect_inputs(node, 2, 2);
  const int64_t axis_attr = node.attr_int("axis", 0);
  return [axis_attr](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor& ind = io.in(1);
    const int axis = normalize_axis(axis_attr, x.rank());
    if (ind.rank() != x.rank()) PTQ_FAIL(ModelError, "indices rank ", ind.rank(), " differs from data rank ", x.rank());
    const int64_t d = x.dim(axis);
    const std::vector<int64_t> idx = read_indices(ind, d, axis);
    const Shape xs = strides_of(x.shape());
    const size_t r = static_cast<size_t>(x.rank()), ax = static_cast<size_t>(axis);
    Tensor out(x.dtype(), ind.shape());
    dispatch_bytes(x.dtype(), [&](auto tag) {
      using U = decltype(tag);
      const U* src = raw_as<U>(x);
      U* dst = raw_as<U>(out);
      Shape pos(r, 0);
      int64_t base = 0;  // offset of pos with pos[axis] = 0
      for (size_t i = 0; i < idx.size(); ++i) {
        dst[i] = src[base + idx[i] * xs[ax]];
        for (size_t j = r; j-- > 0;) {
          if (++pos[j] < ind.shape()[j]) {
            if (j != ax) base += xs[j];
            break;
          }
          if (j != ax) base -= xs[j] * (pos[j] - 1);
          pos[j] = 0;
        }
      }
    });
    io.outputs[0] = out;
  };
}

}  // namespace ptq::exec
