// SPDX-License-Identifier: Apache-2.0
// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual -> bool), logical ops on bool
// tensors (Not, And, Or, Xor) and Where (cond ? x : y), all with numpy broadcasting.
// bool tensors hold one byte per element (0 or 1).
#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

struct EqualOp { template <class T> bool operator()(T a, T b) const { return a == b; } };
struct LessOp { template <class T> bool operator()(T a, T b) const { return a < b; } };
struct GreaterOp { template <class T> bool operator()(T a, T b) const { return a > b; } };
struct LessOrEqualOp { template <class T> bool operator()(T a, T b) const { return a <= b; } };
struct GreaterOrEqualOp { template <class T> bool operator()(T a, T b) const { return a >= b; } };
struct AndOp { bool operator()(uint8_t a, uint8_t b) const { return (a != 0) & (b != 0); } };
struct OrOp { bool operator()(uint8_t a, uint8_t b) const { return (a != 0) | (b != 0); } };
struct XorOp { bool operator()(uint8_t a, uint8_t b) const { return (a != 0) ^ (b != 0); } };

template <class Op>
Kernel compare(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    expect_same_dtype(a, b);
    if (a.dtype() == DType::Bool) {
      binary_kernel<uint8_t, bool>(a, b, io.outputs[0], Op());
      return;
    }
    dispatch(a.dtype(), NumericTypes{}, [&](auto tag) {
      binary_kernel<decltype(tag), bool>(a, b, io.outputs[0], Op());
    });
  };
}

void expect_bool(const Tensor& t) {
  if (t.dtype() != DType::Bool) PTQ_FAIL(ModelError, "expected a bool input, got ", dtype_name(t.dtype()));
}

template <class Op>
Kernel logical(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    expect_bool(a);
    expect_bool(b);
    binary_kernel<uint8_t, bool>(a, b, io.outputs[0], Op());
  };
}

}  // namespace

Kernel make_equal(const Node& node) { return compare<EqualOp>(node); }
Kernel make_less(const Node& node) { return compare<LessOp>(node); }
Kernel make_greater(const Node& node) { return compare<GreaterOp>(node); }
Kernel make_less_or_equal(const Node& node) { return compare<LessOrEqualOp>(node); }
Kernel make_greater_or_equal(const Node& node) { return compare<GreaterOrEqualOp>(node); }
Kernel make_and(const Node& node) { return logical<AndOp>(node); }
Kernel make_or(const Node& node) { return logical<OrOp>(node); }
Kernel make_xor(const Node& node) { return logical<XorOp>(node); }

Kernel make_not(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    expect_bool(x);
    unary_kernel<uint8_t>(x, io.outputs[0], [](uint8_t v) { return static_cast<uint8_t>(v == 0); });
  };
}

Kernel make_where(const Node& node) {
  expect_inputs(node, 3, 3);
  return [](KernelIO& io) {
    const Tensor& cond = io.in(0);
    const Tensor& a = io.in(1);
    const Tensor& b = io.in(2);
    expect_bool(cond);
    expect_same_dtype(a, b);
    dispatch_bytes(a.dtype(), [&](auto tag) { select_kernel<decltype(tag)>(cond, a, b, io.outputs[0]); });
  };
}

}  // namespace ptq::exec
