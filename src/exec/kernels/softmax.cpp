// SPDX-License-Identifier: Apache-2.0
// Softmax and LogSoftmax along one axis:
//   softmax(x)_i = e^(x_i - m) / Σ_j e^(x_j - m),  logsoftmax(x)_i = x_i - m - log Σ_j e^(x_j - m),
//   m = max_j x_j (subtracted for range safety).
// Opset < 13: the input is flattened to [prod(dims[:axis]), prod(dims[axis:])] and normalized over
// the second dim (axis default 1). Opset 13+: normalized over dim `axis` only (default -1).
// The tensor is walked as [outer, D, inner]; with inner > 1 every pass is vectorized across inner.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class T>
void softmax_rows(const T* x, T* y, int64_t outer, int64_t d, int64_t inner, bool log) {
  std::vector<T> m(static_cast<size_t>(inner)), s(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o, x += d * inner, y += d * inner) {
    std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
    std::fill(s.begin(), s.end(), T(0));
    for (int64_t k = 0; k < d; ++k)
      for (int64_t i = 0; i < inner; ++i) m[static_cast<size_t>(i)] = std::max(m[static_cast<size_t>(i)], x[k * inner + i]);
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t i = 0; i < inner; ++i) {
        const T e = std::exp(x[k * inner + i] - m[static_cast<size_t>(i)]);
        s[static_cast<size_t>(i)] += e;
        if (!log) y[k * inner + i] = e;
      }
    }
    for (int64_t i = 0; i < inner; ++i) s[static_cast<size_t>(i)] = log ? std::log(s[static_cast<size_t>(i)]) : T(1) / s[static_cast<size_t>(i)];
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t i = 0; i < inner; ++i) {
        const size_t j = static_cast<size_t>(i);
        y[k * inner + i] = log ? x[k * inner + i] - m[j] - s[j] : y[k * inner + i] * s[j];
      }
    }
  }
}

Kernel make_softmax_like(const Node& node, bool log) {
  expect_inputs(node, 1, 1);
  const bool flatten = node.opset < 13;
  const int64_t axis_attr = node.attr_int("axis", flatten ? 1 : -1);
  return [=](KernelIO& io) {
    const Tensor& x = io.in(0);
    const int axis = normalize_axis(axis_attr, std::max(x.rank(), 1));
    int64_t outer = 1, d = 1, inner = 1;
    for (int i = 0; i < x.rank(); ++i) {
      const int64_t n = x.dim(i);
      if (i < axis) outer *= n;
      else if (i == axis || flatten) d *= n;
      else inner *= n;
    }
    Tensor out(x.dtype(), x.shape());
    dispatch(x.dtype(), FloatTypes{}, [&](auto tag) {
      using T = decltype(tag);
      softmax_rows<T>(x.data<T>(), out.data<T>(), outer, d, inner, log);
    });
    io.outputs[0] = out;
  };
}

}  // namespace

Kernel make_softmax(const Node& node) { return make_softmax_like(node, false); }
Kernel make_log_softmax(const Node& node) { return make_softmax_like(node, true); }

}  // namespace ptq::exec
