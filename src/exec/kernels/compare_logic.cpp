// SPDX-License-Identifier: Apache-2.0
// Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual -> bool), logical ops on bool
// tensors (Not, And, Or, Xor) and Where (cond ? x : y), all with numpy broadcasting; the float
// predicates IsNaN and IsInf (detect_negative / detect_positive, both default 1).
// bool tensors hold one byte per element (0 or 1).
#include <cmath>

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
      binary_kernel<uint8_t, bool>(a, b, io.outputs[0], Op(), io.threads);
      return;
    }
    dispatch(a.dtype(), NumericTypes{}, [&](auto tag) {
      binary_kernel<decltype(tag), bool>(a, b, io.outputs[0], Op(), io.threads);
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
    binary_kernel<uint8_t, bool>(a, b, io.outputs[0], Op(), io.threads);
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
    unary_kernel<uint8_t>(x, io.outputs[0], [](uint8_t v) { return static_cast<uint8_t>(v == 0); }, io.threads);
  };
}

namespace {

template <class Pred>
Kernel float_predicate(Pred pred) {
  return [pred](KernelIO& io) {
    const Tensor& x = io.in(0);
    Tensor out(DType::Bool, x.shape());
    uint8_t* po = out.data<uint8_t>();
    dispatch(x.dtype(), FloatTypes{}, [&](auto tag) {
      const auto* px = x.data<decltype(tag)>();
      for (int64_t i = 0; i < x.numel(); ++i) po[i] = pred(static_cast<double>(px[i]));
    });
    io.outputs[0] = out;
  };
}

}  // namespace

Kernel make_is_nan(const Node& node) {
  expect_inputs(node, 1, 1);
  return float_predicate([](double v) { return std::isnan(v); });
}

Kernel make_is_inf(const Node& node) {
  expect_inputs(node, 1, 1);
  const bool neg = node.attr_int("detect_negative", 1) != 0, pos = node.attr_int("detect_positive", 1) != 0;
  return float_predicate([neg, pos](double v) { return std::isinf(v) && (v > 0 ? pos : neg); });
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
