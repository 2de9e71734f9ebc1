// SPDX-License-Identifier: Apache-2.0
// Reductions over a set of axes: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
// ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare.
// Axes: the 'axes' attribute before opset 13 (ReduceSum) / 18 (the others), input 1 from then on.
// No axes: reduce everything, unless noop_with_empty_axes = 1 (output = input). keepdims default 1.
// Accumulation is in double for float inputs and in int64 for integer inputs; an empty reduction
// gives the operator's identity (0, 1, lowest/highest value).
// The reduced axes are brought together (adjacent axes merged, otherwise a transpose moves them
// innermost), then the input is walked as [outer, R, inner]: vectorized over `inner` when it is > 1,
// over R otherwise.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class A> constexpr A lowest() { return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest(); }
template <class A> constexpr A highest() { return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max(); }

// Each reduction: init, step(acc, x), finish(acc, count).
struct SumR { template <class A> static A init() { return A(0); } template <class A> static A step(A a, A x) { return a + x; } template <class A> static A finish(A a, int64_t) { return a; } };
struct MeanR : SumR { template <class A> static A finish(A a, int64_t n) { return n ? static_cast<A>(a / static_cast<A>(n)) : a; } };
struct MaxR : SumR { template <class A> static A init() { return lowest<A>(); } template <class A> static A step(A a, A x) { return x > a ? x : a; } };
struct MinR : SumR { template <class A> static A init() { return highest<A>(); } template <class A> static A step(A a, A x) { return x < a ? x : a; } };
struct ProdR : SumR { template <class A> static A init() { return A(1); } template <class A> static A step(A a, A x) { return a * x; } };
struct L1R : SumR { template <class A> static A step(A a, A x) { return a + (x < 0 ? -x : x); } };
struct SumSquareR : SumR { template <class A> static A step(A a, A x) { return a + x * x; } };
struct L2R : SumSquareR { template <class A> static A finish(A a, int64_t) { return static_cast<A>(std::sqrt(a)); } };
struct LogSumR : SumR { template <class A> static A finish(A a, int64_t) { return static_cast<A>(std::log(a)); } };
struct LogSumExpR : LogSumR { template <class A> static A step(A a, A x) { return static_cast<A>(a + std::exp(x)); } };

template <class T, class R>
void reduce_block(const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  using A = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
  A* acc = thread_scratch<A, 7>(static_cast<size_t>(inner));  // parallel.h: kept between calls
  for (int64_t o = 0; o < outer; ++o, x += n * inner, y += inner) {
    if (inner == 1) {
      A a = R::template init<A>();
      for (int64_t r = 0; r < n; ++r) a = R::step(a, static_cast<A>(x[r]));
      y[0] = static_cast<T>(R::finish(a, n));
      continue;
    }
    std::fill(acc, acc + inner, R::template init<A>());
    for (int64_t r = 0; r < n; ++r) {
      const T* row = x + r * inner;
      for (int64_t i = 0; i < inner; ++i) acc[static_cast<size_t>(i)] = R::step(acc[static_cast<size_t>(i)], static_cast<A>(row[i]));
    }
    for (int64_t i = 0; i < inner; ++i) y[i] = static_cast<T>(R::finish(acc[static_cast<size_t>(i)], n));
  }
}

template <class R>
Tensor reduce(const Tensor& x, const Shape& reduced, bool keepdims) {  // reduced: 1 per reduced axis
  const size_t rank = reduced.size();
  Shape out_shape;
  for (size_t i = 0; i < rank; ++i)
    if (!reduced[i] || keepdims) out_shape.push_back(reduced[i] ? 1 : x.shape()[i]);
  // Bring the reduced axes together: [outer, R, inner] when they already are, else transpose them last.
  int first = -1, last = -1;
  for (size_t i = 0; i < rank; ++i) {
    if (!reduced[i] || x.shape()[i] == 1) continue;
    if (first < 0) first = static_cast<int>(i);
    last = static_cast<int>(i);
  }
  bool contiguous = true;
  for (int i = first; first >= 0 && i <= last; ++i) contiguous = contiguous && (reduced[static_cast<size_t>(i)] || x.dim(i) == 1);
  Tensor src = x;
  int64_t outer = 1, n = 1, inner = 1;
  if (contiguous) {
    for (size_t i = 0; i < rank; ++i) {
      const int64_t d = x.shape()[i];
      if (reduced[i]) n *= d;
      else if (first < 0 || static_cast<int>(i) < first) outer *= d;
      else inner *= d;
    }
  } else {
    std::vector<int> perm;
    for (int pass = 0; pass < 2; ++pass) {
      for (size_t i = 0; i < rank; ++i) {
        if (reduced[i] != (pass == 1)) continue;
        perm.push_back(static_cast<int>(i));
        (pass == 1 ? n : outer) *= x.shape()[i];
      }
    }
    src = permute(x, perm);
  }
  Tensor out(x.dtype(), out_shape);
  dispatch(x.dtype(), NumericTypes{}, [&](auto tag) {
    using T = decltype(tag);
    reduce_block<T, R>(src.data<T>(), out.data<T>(), outer, n, inner);
  });
  return out;
}

template <class R>
Kernel make_reduce(const Node& node, int64_t axes_input_opset) {
  const bool from_input = node.opset >= axes_input_opset;
  expect_inputs(node, 1, from_input ? 2 : 1);
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  const bool noop_empty = node.attr_int("noop_with_empty_axes", 0) != 0;
  const Shape attr_axes = node.attr_ints("axes");
  return [=](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Shape axes = from_input ? (io.has(1) ? read_ints(io.in(1), "axes") : Shape{}) : Shape(attr_axes);
    if (axes.empty() && noop_empty) {
      io.outputs[0] = x;
      return;
    }
    Shape reduced(static_cast<size_t>(x.rank()), axes.empty() ? 1 : 0);
    for (int64_t a : axes) reduced[static_cast<size_t>(normalize_axis(a, x.rank(), "axes value"))] = 1;
    io.outputs[0] = reduce<R>(x, reduced, keepdims);
  };
}

}  // namespace

Kernel make_reduce_sum(const Node& node) { return make_reduce<SumR>(node, 13); }
Kernel make_reduce_mean(const Node& node) { return make_reduce<MeanR>(node, 18); }
Kernel make_reduce_max(const Node& node) { return make_reduce<MaxR>(node, 18); }
Kernel make_reduce_min(const Node& node) { return make_reduce<MinR>(node, 18); }
Kernel make_reduce_prod(const Node& node) { return make_reduce<ProdR>(node, 18); }
Kernel make_reduce_l1(const Node& node) { return make_reduce<L1R>(node, 18); }
Kernel make_reduce_l2(const Node& node) { return make_reduce<L2R>(node, 18); }
Kernel make_reduce_log_sum(const Node& node) { return make_reduce<LogSumR>(node, 18); }
Kernel make_reduce_log_sum_exp(const Node& node) { return make_reduce<LogSumExpR>(node, 18); }
Kernel make_reduce_sum_square(const Node& node) { return make_reduce<SumSquareR>(node, 18); }

}  // namespace ptq::exec
