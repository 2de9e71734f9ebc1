// SPDX-License-Identifier: Apache-2.0
// Index-driven copies into and out of a data tensor (negative indices count from the end; an index
// out of range throws DataError):
//   ScatterElements (and Scatter-9/10): out = data; out[i with i[axis] = indices[i]] ⊕= updates[i]
//   ScatterND: out = data; out[indices[j, :]] (a slice of data.shape[k:]) ⊕= updates[j]
//   GatherND (batch_dims b): out[batch, j] = data[batch, indices[batch, j, :]] (a slice)
// ⊕ is the `reduction` attribute: none (replace, any dtype), add, mul (opset 16), max, min (18).
// Updates are applied in index order, so repeated indices with reduction none keep the last one.
#include <algorithm>
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

enum class Reduction { None, Add, Mul, Max, Min };

Reduction reduction_of(const Node& node) {
  const std::string r = node.attr_string("reduction", "none");
  if (r == "none") return Reduction::None;
  if (r == "add") return Reduction::Add;
  if (r == "mul") return Reduction::Mul;
  if (r == "max") return Reduction::Max;
  if (r == "min") return Reduction::Min;
  PTQ_FAIL(UnsupportedError, "reduction '", r, "' (expected none, add, mul, max or min)");
}

template <class T>
void combine(T* dst, const T* src, int64_t n, Reduction r) {
  for (int64_t i = 0; i < n; ++i) {
    switch (r) {
      case Reduction::None: dst[i] = src[i]; break;
      case Reduction::Add: dst[i] = static_cast<T>(dst[i] + src[i]); break;
      case Reduction::Mul: dst[i] = static_cast<T>(dst[i] * src[i]); break;
      case Reduction::Max: dst[i] = std::max(dst[i], src[i]); break;
      case Reduction::Min: dst[i] = std::min(dst[i], src[i]); break;
    }
  }
}

// Applies f(T{}) with T the element type: raw bytes for replacement, numeric types otherwise.
template <class F>
void dispatch_reduction(DType dtype, Reduction r, F&& f) {
  if (r == Reduction::None) dispatch_bytes(dtype, f);
  else dispatch(dtype, NumericTypes{}, f);
}

int64_t checked_index(int64_t j, int64_t d) {
  const int64_t k = j < 0 ? j + d : j;
  if (k < 0 || k >= d) PTQ_FAIL(DataError, "index ", j, " is out of range for a dim of size ", d);
  return k;
}

// Element offsets, in a tensor of shape `shape`, of the `count` slices addressed by consecutive
// k-tuples of idx (k = 0: every tuple addresses the whole tensor).
std::vector<int64_t> slice_offsets(const Shape& shape, const int64_t* idx, int64_t count, int64_t k) {
  if (k > static_cast<int64_t>(shape.size()))
    PTQ_FAIL(ModelError, "indices address ", k, " dims of a tensor of shape ", shape_str(shape));
  const Shape st = strides_of(shape);
  std::vector<int64_t> offsets(static_cast<size_t>(count), 0);
  for (int64_t j = 0; j < count; ++j)
    for (int64_t t = 0; t < k; ++t)
      offsets[static_cast<size_t>(j)] += checked_index(idx[j * k + t], shape[static_cast<size_t>(t)]) * st[static_cast<size_t>(t)];
  return offsets;
}

// Number of index tuples in `indices` (all dims but the last).
int64_t tuple_count(const Tensor& indices) {
  return shape_numel(Shape(indices.shape().begin(), indices.shape().end() - 1));
}

}  // namespace

Kernel make_scatter_elements(const Node& node) {
  expect_inputs(node, 3, 3);
  const int64_t axis_attr = node.attr_int("axis", 0);
  const Reduction red = reduction_of(node);
  return [axis_attr, red](KernelIO& io) {
    const Tensor& data = io.in(0);
    const Tensor& ind = io.in(1);
    const Tensor& upd = io.in(2);
    if (ind.shape() != upd.shape() || ind.rank() != data.rank())
      PTQ_FAIL(ModelError, "indices ", shape_str(ind.shape()), " and updates ", shape_str(upd.shape()),
               " must have one shape of the data's rank ", data.rank());
    const int axis = normalize_axis(axis_attr, data.rank());
    const Shape idx = read_ints(ind.reshaped({ind.numel()}), "indices");
    const Shape ds = strides_of(data.shape());
    Tensor out = data.clone();
    dispatch_reduction(data.dtype(), red, [&](auto tag) {
      using T = decltype(tag);
      T* dst = raw_as<T>(out);
      const T* src = raw_as<T>(upd);
      std::vector<int64_t> pos(static_cast<size_t>(ind.rank()), 0);
      for (size_t i = 0; i < idx.size(); ++i) {
        int64_t off = 0;
        for (size_t d = 0; d < pos.size(); ++d)
          off += (static_cast<int>(d) == axis ? checked_index(idx[i], data.shape()[d]) : pos[d]) * ds[d];
        combine<T>(dst + off, src + i, 1, red);
        for (size_t d = pos.size(); d-- > 0;) {
          if (++pos[d] < ind.shape()[d]) break;
          pos[d] = 0;
        }
      }
    });
    io.outputs[0] = out;
  };
}

Kernel make_scatter_nd(const Node& node) {
  expect_inputs(node, 3, 3);
  const Reduction red = reduction_of(node);
  return [red](KernelIO& io) {
    const Tensor& data = io.in(0);
    const Tensor& ind = io.in(1);
    const Tensor& upd = io.in(2);
    if (ind.rank() < 1) PTQ_FAIL(ModelError, "indices must have rank >= 1");
    const Shape idx = read_ints(ind.reshaped({ind.numel()}), "indices");
    const std::vector<int64_t> offsets = slice_offsets(data.shape(), idx.data(), tuple_count(ind), ind.dim(-1));
    const int64_t slice = shape_numel(Shape(data.shape().begin() + ind.dim(-1), data.shape().end()));  // k checked above
    if (upd.numel() != static_cast<int64_t>(offsets.size()) * slice)
      PTQ_FAIL(ModelError, "updates ", shape_str(upd.shape()), " do not match indices ", shape_str(ind.shape()),
               " on data ", shape_str(data.shape()));
    Tensor out = data.clone();
    dispatch_reduction(data.dtype(), red, [&](auto tag) {
      using T = decltype(tag);
      for (size_t j = 0; j < offsets.size(); ++j)
        combine<T>(raw_as<T>(out) + offsets[j], raw_as<T>(upd) + static_cast<int64_t>(j) * slice, slice, red);
    });
    io.outputs[0] = out;
  };
}

Kernel make_gather_nd(const Node& node) {
  expect_inputs(node, 2, 2);
  const int64_t batch_dims = node.attr_int("batch_dims", 0);
  return [batch_dims](KernelIO& io) {
    const Tensor& data = io.in(0);
    const Tensor& ind = io.in(1);
    const size_t b = static_cast<size_t>(batch_dims);
    if (ind.rank() < 1 || b >= static_cast<size_t>(std::min(data.rank(), ind.rank())))
      PTQ_FAIL(ModelError, "batch_dims ", batch_dims, " does not fit data ", shape_str(data.shape()), " and indices ", shape_str(ind.shape()));
    const int64_t batches = shape_numel(Shape(data.shape().begin(), data.shape().begin() + static_cast<int64_t>(b)));
    const int64_t k = ind.dim(-1);
    if (k > data.rank() - batch_dims)
      PTQ_FAIL(ModelError, "indices address ", k, " dims after ", batch_dims, " batch dims of data ", shape_str(data.shape()));
    Shape out_shape(ind.shape().begin(), ind.shape().end() - 1);
    out_shape.insert(out_shape.end(), data.shape().begin() + static_cast<int64_t>(b) + k, data.shape().end());
    const Shape per_batch_data(data.shape().begin() + static_cast<int64_t>(b), data.shape().end());
    const Shape per_batch_ind(ind.shape().begin() + static_cast<int64_t>(b), ind.shape().end());
    const int64_t data_step = shape_numel(per_batch_data), ind_step = shape_numel(per_batch_ind);
    const int64_t slice = shape_numel(Shape(per_batch_data.begin() + k, per_batch_data.end()));
    const size_t bytes = static_cast<size_t>(slice) * dtype_size(data.dtype());
    const Shape idx = read_ints(ind.reshaped({ind.numel()}), "indices");
    const int64_t tuples = k > 0 ? ind_step / k : shape_numel(Shape(per_batch_ind.begin(), per_batch_ind.end() - 1));
    Tensor out(data.dtype(), out_shape);
    const char* src = static_cast<const char*>(data.raw());
    char* dst = static_cast<char*>(out.raw());
    for (int64_t n = 0; n < batches; ++n) {
      for (int64_t off : slice_offsets(per_batch_data, idx.data() + n * ind_step, tuples, k)) {
        std::memcpy(dst, src + static_cast<size_t>(n * data_step + off) * dtype_size(data.dtype()), bytes);
        dst += bytes;
      }
    }
    io.outputs[0] = out;
  };
}

}  // namespace ptq::exec
