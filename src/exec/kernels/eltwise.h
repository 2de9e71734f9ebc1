// SPDX-License-Identifier: Apache-2.0
// Shared machinery of elementwise kernels: numpy-style broadcasting and dispatch templates.
// A unary op is a scalar function; a binary op is a scalar function applied over broadcast inputs.
// The inner loops are plain indexed loops over contiguous rows (no per-element index math), so the
// compiler vectorizes them when the scalar function allows it. Large tensors are split into chunks
// of kEltwiseChunk elements (or groups of rows) that run on the thread pool (parallel.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common.h"
#include "parallel.h"
#include "ptq/exec/kernel.h"

namespace ptq::exec {

// Multidirectional (numpy) broadcast of two shapes; throws Error when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// Iteration plan of an elementwise op over up to kMaxOperands broadcast operands: the output is walked
// as outer x inner, where each operand advances by its inner stride (0 or 1) inside a row and by its
// strides over the merged outer dims across rows. Adjacent dims are merged when every operand allows
// it. Allocates nothing (inline Shapes) unless the merged shape has more than 6 dims.
constexpr size_t kMaxOperands = 3;
struct BroadcastPlan {
  Shape out_shape;
  int64_t inner = 1;  // elements per row
  int64_t rows = 1;
  Shape outer;                           // merged outer dims, the fastest first
  Shape outer_stride[kMaxOperands];      // per operand: its stride along each of them
  int64_t inner_stride[kMaxOperands] = {};  // per operand: 0 (broadcast) or 1

  // Offset of row r's first element in operand k.
  int64_t row_offset(size_t k, int64_t r) const {
    int64_t off = 0;
    for (size_t d = 0; d < outer.size() && r > 0; ++d) {
      off += (r % outer[d]) * outer_stride[k][d];
      r /= outer[d];
    }
    return off;
  }
};
BroadcastPlan plan_broadcast(std::initializer_list<const Shape*> shapes);

// Elements per parallel task. Tasks are cut from the shape only (parallel.h's determinism contract).
constexpr int64_t kEltwiseChunk = int64_t{1} << 16;
// Smaller ops run on the calling thread: a memory-bound pass over fewer elements takes about as
// long as waking a pool thread, and far less than that on a loaded machine.
constexpr int64_t kEltwiseParallelMin = int64_t{1} << 20;

// Runs body(begin, end) over [0, n) in chunks of `chunk` items, on up to `threads` threads when the
// op touches at least kEltwiseParallelMin elements (`elements`).
template <class Body>
void for_chunks(int64_t n, int64_t chunk, int64_t elements, int threads, const Body& body) {
  const int64_t tasks = ceil_div(n, chunk);
  if (threads <= 1 || tasks < 2 || elements < kEltwiseParallelMin) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
  parallel_for(threads, tasks, [&](int64_t t) { body(t * chunk, std::min(n, (t + 1) * chunk)); });
}

// out = f(a, b) elementwise with broadcasting; T is the input type, R the output type.
template <class T, class R, class F>
void binary_kernel(const Tensor& a, const Tensor& b, Tensor& out, F f, int threads = 1) {
  BroadcastPlan plan = plan_broadcast({&a.shape(), &b.shape()});
  out = Tensor(DTypeOf<R>::value, plan.out_shape);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  R* po = out.data<R>();
  const int64_t sa = plan.inner_stride[0], sb = plan.inner_stride[1], n = plan.inner;
  // Elements [i0, i1) of row r.
  auto span = [&](int64_t r, int64_t i0, int64_t i1) {
    const T* ra = pa + plan.row_offset(0, r);
    const T* rb = pb + plan.row_offset(1, r);
    R* ro = po + r * n;
    if (sa == 1 && sb == 1) {
      for (int64_t i = i0; i < i1; ++i) ro[i] = f(ra[i], rb[i]);
    } else if (sa == 1) {
      const T vb = rb[0];
      for (int64_t i = i0; i < i1; ++i) ro[i] = f(ra[i], vb);
    } else if (sb == 1) {
      const T va = ra[0];
      for (int64_t i = i0; i < i1; ++i) ro[i] = f(va, rb[i]);
    } else {
      const R v = f(ra[0], rb[0]);
      for (int64_t i = i0; i < i1; ++i) ro[i] = v;
    }
  };
  if (plan.rows == 1) {
    for_chunks(n, kEltwiseChunk, n, threads, [&](int64_t i0, int64_t i1) { span(0, i0, i1); });
  } else {
    const int64_t rows_per_task = std::max<int64_t>(1, kEltwiseChunk / std::max<int64_t>(n, 1));
    for_chunks(plan.rows, rows_per_task, plan.rows * n, threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) span(r, 0, n);
    });
  }
}

// out = cond ? a : b with broadcasting over the three operands (cond is bool, stored as bytes);
// T is any type of the element size of a and b.
template <class T>
void select_kernel(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  BroadcastPlan plan = plan_broadcast({&cond.shape(), &a.shape(), &b.shape()});
  out = Tensor(a.dtype(), plan.out_shape);
  const uint8_t* pc = cond.data<uint8_t>();
  const T* pa = raw_as<T>(a);
  const T* pb = raw_as<T>(b);
  T* po = raw_as<T>(out);
  const int64_t sc = plan.inner_stride[0], sa = plan.inner_stride[1], sb = plan.inner_stride[2], n = plan.inner;
  for (int64_t r = 0; r < plan.rows; ++r) {
    const uint8_t* rc = pc + plan.row_offset(0, r);
    const T* ra = pa + plan.row_offset(1, r);
    const T* rb = pb + plan.row_offset(2, r);
    T* ro = po + r * n;
    for (int64_t i = 0; i < n; ++i) ro[i] = rc[i * sc] ? ra[i * sa] : rb[i * sb];
  }
}

// out = f(x) elementwise; the output has the input's dtype.
template <class T, class F>
void unary_kernel(const Tensor& x, Tensor& out, F f, int threads = 1) {
  out = Tensor(x.dtype(), x.shape());
  const T* px = x.data<T>();
  T* po = out.data<T>();
  for_chunks(x.numel(), kEltwiseChunk, x.numel(), threads, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) po[i] = f(px[i]);
  });
}

// Both inputs must have one dtype (ONNX's type constraint T for binary ops).
void expect_same_dtype(const Tensor& a, const Tensor& b);

}  // namespace ptq::exec
