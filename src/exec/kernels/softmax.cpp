// SPDX-License-Identifier: Apache-2.0
// Softmax and LogSoftmax along one axis:
//   softmax(x)_i = e^(x_i - m) / Σ_j e^(x_j - m),  logsoftmax(x)_i = x_i - m - log Σ_j e^(x_j - m),
//   m = max_j x_j (subtracted for range safety).
// Opset < 13: the input is flattened to [prod(dims[:axis]), prod(dims[axis:])] and normalized over
// the second dim (axis default 1). Opset 13+: normalized over dim `axis` only (default -1).
// The tensor is walked as [outer, D, inner]; with inner > 1 every pass is vectorized across inner.
// float uses exp_fast (fast_math.h).
// Hardmax (same axis rules): 1 at the first maximum along the axis, 0 elsewhere.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common.h"
#include "fast_math.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

// One row of d contiguous values (inner == 1).
template <class T>
void softmax_row(const T* x, T* y, int64_t d, bool log) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t k = 0; k < d; ++k) m = std::max(m, x[k]);
  for (int64_t k = 0; k < d; ++k) y[k] = exp_of(x[k] - m);
  T s = 0;
  for (int64_t k = 0; k < d; ++k) s += y[k];
  if (log) {
    const T ls = m + std::log(s);
    for (int64_t k = 0; k < d; ++k) y[k] = x[k] - ls;
  } else {
    const T inv = T(1) / s;
    for (int64_t k = 0; k < d; ++k) y[k] *= inv;
  }
}

// [outer, d, inner] with inner > 1: every pass runs across inner.
template <class T>
void softmax_rows(const T* x, T* y, int64_t outer, int64_t d, int64_t inner, bool log) {
  if (inner == 1) {
    for (int64_t o = 0; o < outer; ++o) softmax_row(x + o * d, y + o * d, d, log);
    return;
  }
  std::vector<T> m(static_cast<size_t>(inner)), s(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o, x += d * inner, y += d * inner) {
    T* pm = m.data();
    T* ps = s.data();
    std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
    std::fill(s.begin(), s.end(), T(0));
    for (int64_t k = 0; k < d; ++k)
      for (int64_t i = 0; i < inner; ++i) pm[i] = std::max(pm[i], x[k * inner + i]);
    for (int64_t k = 0; k < d; ++k) {
      for (int64_t i = 0; i < inner; ++i) y[k * inner + i] = exp_of(x[k * inner + i] - pm[i]);
      for (int64_t i = 0; i < inner; ++i) ps[i] += y[k * inner + i];
    }
    if (log) {
      for (int64_t i = 0; i < inner; ++i) ps[i] = pm[i] + std::log(ps[i]);
      for (int64_t k = 0; k < d; ++k)
        for (int64_t i = 0; i < inner; ++i) y[k * inner + i] = x[k * inner + i] - ps[i];
    } else {
      for (int64_t i = 0; i < inner; ++i) ps[i] = T(1) / ps[i];
      for (int64_t k = 0; k < d; ++k)
        for (int64_t i = 0; i < inner; ++i) y[k * inner + i] *= ps[i];
    }
  }
}

template <class T>
void hardmax_rows(const T* x, T* y, int64_t outer, int64_t d, int64_t inner) {
  for (int64_t o = 0; o < outer; ++o, x += d * inner, y += d * inner) {
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t k = 1; k < d; ++k)
        if (x[k * inner + i] > x[best * inner + i]) best = k;
      for (int64_t k = 0; k < d; ++k) y[k * inner + i] = k == best ? T(1) : T(0);
    }
  }
}

enum class Normalize { Softmax, LogSoftmax, Hardmax };

Kernel make_softmax_like(const Node& node, Normalize kind) {
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
      if (kind == Normalize::Hardmax) hardmax_rows<T>(x.data<T>(), out.data<T>(), outer, d, inner);
      else softmax_rows<T>(x.data<T>(), out.data<T>(), outer, d, inner, kind == Normalize::LogSoftmax);
    });
    io.outputs[0] = out;
  };
}

}  // namespace

Kernel make_softmax(const Node& node) { return make_softmax_like(node, Normalize::Softmax); }
Kernel make_log_softmax(const Node& node) { return make_softmax_like(node, Normalize::LogSoftmax); }
Kernel make_hardmax(const Node& node) { return make_softmax_like(node, Normalize::Hardmax); }

}  // namespace ptq::exec
