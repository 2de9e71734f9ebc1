// SPDX-License-Identifier: Apache-2.0
// Concat and Split along one axis. Both view the tensors as [outer, dim(axis) · inner] and copy
// contiguous blocks of bytes, so they work for every dtype.
// Split: sizes from the 'split' attribute (opset 2-12), input 1 (opset 1 and 13+), else
// num_outputs (opset 18: ceil(dim/n) per output, the last one smaller) or equal parts, one per
// output (the dim must divide evenly).
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

struct AxisView {
  int64_t outer = 1, inner = 1;  // inner in bytes
};

AxisView view_of(const Shape& s, int axis, size_t elem_size) {
  AxisView v;
  for (size_t i = 0; i < s.size(); ++i) {
    if (static_cast<int>(i) < axis) v.outer *= s[i];
    else if (static_cast<int>(i) > axis) v.inner *= s[i];
  }
  v.inner *= static_cast<int64_t>(elem_size);
  return v;
}

}  // namespace

Kernel make_concat(const Node& node) {
  expect_inputs(node, 1, 1u << 20);
  if (node.opset >= 4 && !node.has_attr("axis")) PTQ_FAIL(ModelError, node.describe(), ": attribute 'axis' is required");
  const int64_t axis_attr = node.attr_int("axis", 1);
  return [axis_attr](KernelIO& io) {
    const Tensor& first = io.in(0);
    const int axis = normalize_axis(axis_attr, first.rank());
    Shape out_shape = first.shape();
    out_shape[static_cast<size_t>(axis)] = 0;
    for (size_t k = 0; k < io.num_inputs(); ++k) {
      const Tensor& t = io.in(k);
      bool ok = t.dtype() == first.dtype() && t.rank() == first.rank();
      for (int i = 0; ok && i < t.rank(); ++i) ok = i == axis || t.dim(i) == first.dim(i);
      if (!ok)
        PTQ_FAIL(ModelError, "input ", k, " (", dtype_name(t.dtype()), " ", shape_str(t.shape()), ") does not match input 0 (",
                 dtype_name(first.dtype()), " ", shape_str(first.shape()), ") outside axis ", axis);
      out_shape[static_cast<size_t>(axis)] += t.dim(axis);
    }
    Tensor out(first.dtype(), out_shape);
    const size_t elem = dtype_size(first.dtype());
    const AxisView ov = view_of(out_shape, axis, elem);
    const int64_t out_row = out_shape[static_cast<size_t>(axis)] * ov.inner;
    thread_local CopyPieces copies;  // one per (input, outer index) row; keeps its capacity between calls
    copies.clear();
    int64_t offset = 0;
    for (size_t k = 0; k < io.num_inputs(); ++k) {
      const Tensor& t = io.in(k);
      const int64_t row = t.dim(axis) * ov.inner;
      const char* src = static_cast<const char*>(t.raw());
      char* dst = static_cast<char*>(out.raw()) + offset;
      for (int64_t o = 0; o < ov.outer && row > 0; ++o) copies.add(src + o * row, dst + o * out_row, row, elem);
      offset += row;
    }
    copies.run(io.threads);
    io.outputs[0] = out;
  };
}

namespace {

std::vector<int64_t> split_sizes(const KernelIO& io, const std::vector<int64_t>& attr_split, bool input_split,
                                 int64_t num_outputs, int64_t dim) {
  std::vector<int64_t> sizes = attr_split;
  if (input_split && io.has(1)) sizes = read_ints(io.in(1), "split");
  const int64_t n = static_cast<int64_t>(io.outputs.size());
  if (sizes.empty() && num_outputs > 0) {
    const int64_t part = (dim + num_outputs - 1) / num_outputs;
    for (int64_t k = 0; k < num_outputs; ++k) sizes.push_back(std::max<int64_t>(0, std::min(part, dim - k * part)));
  } else if (sizes.empty()) {
    if (dim % n != 0) PTQ_FAIL(ModelError, "dim ", dim, " cannot be split into ", n, " equal parts");
    sizes.assign(static_cast<size_t>(n), dim / n);
  }
  if (static_cast<int64_t>(sizes.size()) != n) PTQ_FAIL(ModelError, "split has ", sizes.size(), " sizes for ", n, " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) PTQ_FAIL(ModelError, "negative split size ", s);
    total += s;
  }
  if (total != dim) PTQ_FAIL(ModelError, "split sizes sum to ", total, ", the dim is ", dim);
  return sizes;
}

}  // namespace

Kernel make_split(const Node& node) {
  const bool input_split = node.opset == 1 || node.opset >= 13;
  expect_inputs(node, 1, input_split ? 2 : 1);
  const int64_t axis_attr = node.attr_int("axis", 0);
  const std::vector<int64_t> attr_split = node.attr_ints("split");
  const int64_t num_outputs = node.attr_int("num_outputs", 0);
  if (node.opset >= 18 && num_outputs > 0 && num_outputs != static_cast<int64_t>(node.outputs.size()))
    PTQ_FAIL(ModelError, node.describe(), ": num_outputs = ", num_outputs, " but the node has ", node.outputs.size(), " outputs");
  return [axis_attr, attr_split, input_split, num_outputs](KernelIO& io) {
    const Tensor& x = io.in(0);
    const int axis = normalize_axis(axis_attr, x.rank());
    const int64_t dim = x.dim(axis);
    const std::vector<int64_t> sizes = split_sizes(io, attr_split, input_split, num_outputs, dim);
    const AxisView v = view_of(x.shape(), axis, dtype_size(x.dtype()));
    const int64_t in_row = dim * v.inner;
    int64_t offset = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      Shape s = x.shape();
      s[static_cast<size_t>(axis)] = sizes[k];
      Tensor out(x.dtype(), s);
      const int64_t row = sizes[k] * v.inner;
      const char* src = static_cast<const char*>(x.raw()) + offset;
      char* dst = static_cast<char*>(out.raw());
      for (int64_t o = 0; o < v.outer && row > 0; ++o) std::memcpy(dst + o * row, src + o * in_row, static_cast<size_t>(row));
      offset += row;
      io.outputs[k] = out;
    }
  };
}

}  // namespace ptq::exec
