// SPDX-License-Identifier: Apache-2.0
// Variadic elementwise ops with numpy broadcasting over all inputs: Max, Min, Sum, Mean.
// Folded left to right (((x0 op x1) op x2) ...); Mean divides the sum by the input count.
// float16 inputs are computed in float32 and converted back (exact for Max/Min).
#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

struct MaxOp { template <class T> T operator()(T a, T b) const { return a < b ? b : a; } };
struct MinOp { template <class T> T operator()(T a, T b) const { return b < a ? b : a; } };
struct SumOp { template <class T> T operator()(T a, T b) const { return static_cast<T>(a + b); } };

template <class T, class Op>
Tensor fold(const std::vector<const Tensor*>& inputs, bool mean, int threads) {
  Tensor acc = *inputs[0];
  for (size_t k = 1; k < inputs.size(); ++k) {
    Tensor next;
    binary_kernel<T, T>(acc, *inputs[k], next, Op(), threads);
    acc = std::move(next);
  }
  if (mean) {
    if (inputs.size() == 1) acc = acc.clone();
    T* p = acc.data<T>();
    const T n = static_cast<T>(inputs.size());
    for (int64_t i = 0; i < acc.numel(); ++i) p[i] = static_cast<T>(p[i] / n);
  }
  return acc;
}

template <class Op, class TypeList>
Kernel variadic(const Node& node, bool mean = false) {
  expect_inputs(node, 1, 1u << 20);
  return [mean](KernelIO& io) {
    std::vector<const Tensor*> inputs;
    for (size_t k = 0; k < io.num_inputs(); ++k) inputs.push_back(&io.in(k));
    const DType dtype = inputs[0]->dtype();
    for (const Tensor* t : inputs) expect_same_dtype(*inputs[0], *t);
    if (dtype == DType::Float16) {
      std::vector<Tensor> wide;
      for (const Tensor* t : inputs) wide.push_back(cast_tensor(*t, DType::Float32));
      std::vector<const Tensor*> ptrs;
      for (const Tensor& t : wide) ptrs.push_back(&t);
      io.outputs[0] = cast_tensor(fold<float, Op>(ptrs, mean, io.threads), DType::Float16);
      return;
    }
    dispatch(dtype, TypeList{}, [&](auto tag) { io.outputs[0] = fold<decltype(tag), Op>(inputs, mean, io.threads); });
  };
}

}  // namespace

Kernel make_max(const Node& node) { return variadic<MaxOp, NumericTypes>(node); }
Kernel make_min(const Node& node) { return variadic<MinOp, NumericTypes>(node); }
Kernel make_sum(const Node& node) { return variadic<SumOp, NumericTypes>(node); }
Kernel make_mean(const Node& node) { return variadic<SumOp, FloatTypes>(node, true); }

}  // namespace ptq::exec
