// SPDX-License-Identifier: Apache-2.0
// CumSum along `axis` (a scalar int32/int64 input): y[i] = Σ_{j <= i} x[j]; exclusive = 1 leaves
// out x[i] itself (y[0] = 0), reverse = 1 sums from the end. Walked as [outer, d, inner], running
// sums kept per inner position.
#include "common.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class T>
void cumsum(const T* x, T* y, int64_t outer, int64_t d, int64_t inner, bool exclusive, bool reverse) {
  std::vector<T> acc(static_cast<size_t>(inner));
  for (int64_t o = 0; o < outer; ++o, x += d * inner, y += d * inner) {
    std::fill(acc.begin(), acc.end(), T(0));
    for (int64_t s = 0; s < d; ++s) {
      const int64_t k = reverse ? d - 1 - s : s;
      for (int64_t i = 0; i < inner; ++i) {
        T& a = acc[static_cast<size_t>(i)];
        const T v = x[k * inner + i];
        if (exclusive) {
          y[k * inner + i] = a;
          a = static_cast<T>(a + v);
        } else {
          a = static_cast<T>(a + v);
          y[k * inner + i] = a;
        }
      }
    }
  }
}

}  // namespace

Kernel make_cumsum(const Node& node) {
  expect_inputs(node, 2, 2);
  const bool exclusive = node.attr_int("exclusive", 0) != 0, reverse = node.attr_int("reverse", 0) != 0;
  return [exclusive, reverse](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Shape ax = read_ints(io.in(1), "axis");
    if (ax.size() != 1) PTQ_FAIL(ModelError, "axis must hold one value");
    const int axis = normalize_axis(ax[0], x.rank());
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < x.rank(); ++i) (i < axis ? outer : inner) *= i == axis ? 1 : x.dim(i);
    Tensor out(x.dtype(), x.shape());
    dispatch(x.dtype(), NumericTypes{}, [&](auto tag) {
      using T = decltype(tag);
      cumsum<T>(x.data<T>(), out.data<T>(), outer, x.dim(axis), inner, exclusive, reverse);
    });
    io.outputs[0] = out;
  };
}

}  // namespace ptq::exec
