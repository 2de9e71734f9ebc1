// SPDX-License-Identifier: Apache-2.0
// ArgMax / ArgMin along one axis -> int64 indices (axis default 0, keepdims default 1).
// Ties give the first index, or the last with select_last_index = 1 (opset 12+).
// TopK (opset 1: k attribute; 10+: k input; 11+: largest, sorted): the k largest (or smallest)
// values along `axis` and their int64 indices, always sorted (also a valid answer for sorted = 0);
// equal values keep the lower index first.
#include <algorithm>
#include <numeric>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class T>
void arg_reduce(const T* x, int64_t* y, int64_t outer, int64_t d, int64_t inner, bool max, bool last) {
  std::vector<T> best(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o, x += d * inner, y += inner) {
    for (int64_t i = 0; i < inner; ++i) {
      best[static_cast<size_t>(i)] = x[i];
      y[i] = 0;
    }
    for (int64_t k = 1; k < d; ++k) {
      for (int64_t i = 0; i < inner; ++i) {
        const T v = x[k * inner + i], b = best[static_cast<size_t>(i)];
        const bool better = max ? (last ? v >= b : v > b) : (last ? v <= b : v < b);
        if (better) {
          best[static_cast<size_t>(i)] = v;
          y[i] = k;
        }
      }
    }
  }
}

Kernel make_arg(const Node& node, bool max) {
  expect_inputs(node, 1, 1);
  const int64_t axis_attr = node.attr_int("axis", 0);
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  const bool last = node.attr_int("select_last_index", 0) != 0;
  return [=](KernelIO& io) {
    const Tensor& x = io.in(0);
    const int axis = normalize_axis(axis_attr, x.rank());
    if (x.dim(axis) == 0) PTQ_FAIL(ModelError, "cannot take the arg", max ? "max" : "min", " of an empty axis");
    int64_t outer = 1, inner = 1;
    Shape out_shape;
    for (int i = 0; i < x.rank(); ++i) {
      if (i < axis) outer *= x.dim(i);
      if (i > axis) inner *= x.dim(i);
      if (i != axis || keepdims) out_shape.push_back(i == axis ? 1 : x.dim(i));
    }
    Tensor out(DType::Int64, out_shape);
    dispatch(x.dtype(), NumericTypes{}, [&](auto tag) {
      using T = decltype(tag);
      arg_reduce<T>(x.data<T>(), out.data<int64_t>(), outer, x.dim(axis), inner, max, last);
    });
    io.outputs[0] = out;
  };
}

template <class T>
void top_k(const T* x, T* values, int64_t* indices, int64_t outer, int64_t d, int64_t inner, int64_t k, bool largest) {
  std::vector<int64_t> order(static_cast<size_t>(d));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const T* col = x + o * d * inner + i;
      std::iota(order.begin(), order.end(), 0);
      auto before = [&](int64_t a, int64_t b) {
        const T va = col[a * inner], vb = col[b * inner];
        if (va != vb) return largest ? va > vb : va < vb;
        return a < b;
      };
      std::partial_sort(order.begin(), order.begin() + k, order.end(), before);
      for (int64_t j = 0; j < k; ++j) {
        const int64_t at = (o * k + j) * inner + i;
        values[at] = col[order[static_cast<size_t>(j)] * inner];
        indices[at] = order[static_cast<size_t>(j)];
      }
    }
  }
}

}  // namespace

Kernel make_arg_max(const Node& node) { return make_arg(node, true); }
Kernel make_arg_min(const Node& node) { return make_arg(node, false); }

Kernel make_top_k(const Node& node) {
  const bool k_input = node.opset >= 10;
  expect_inputs(node, k_input ? 2 : 1, k_input ? 2 : 1);
  const int64_t axis_attr = node.attr_int("axis", -1);
  const int64_t k_attr = node.attr_int("k", -1);
  const bool largest = node.attr_int("largest", 1) != 0;
  return [=](KernelIO& io) {
    const Tensor& x = io.in(0);
    const int axis = normalize_axis(axis_attr, x.rank());
    const int64_t k = k_input ? read_ints(io.in(1), "k").at(0) : k_attr;
    const int64_t d = x.dim(axis);
    if (k < 0 || k > d) PTQ_FAIL(ModelError, "k = ", k, " is out of range for axis ", axis, " of size ", d);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < x.rank(); ++i) (i < axis ? outer : inner) *= i == axis ? 1 : x.dim(i);
    Shape out_shape = x.shape();
    out_shape[static_cast<size_t>(axis)] = k;
    Tensor values(x.dtype(), out_shape), indices(DType::Int64, out_shape);
    dispatch(x.dtype(), NumericTypes{}, [&](auto tag) {
      using T = decltype(tag);
      top_k<T>(x.data<T>(), values.data<T>(), indices.data<int64_t>(), outer, d, inner, k, largest);
    });
    io.outputs[0] = values;
    io.outputs[1] = indices;
  };
}

}  // namespace ptq::exec
