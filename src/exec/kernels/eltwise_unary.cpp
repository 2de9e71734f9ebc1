// SPDX-License-Identifier: Apache-2.0
// Unary elementwise ops: each is a scalar function (templated on float/double, some also on integer
// types) dispatched by unary_kernel. Attributes are read once by the factory:
//   LeakyRelu   max(x, 0) + alpha*min(x, 0)                alpha 0.01
//   Elu         x >= 0 ? x : alpha*(e^x - 1)               alpha 1.0
//   Celu        max(0,x) + min(0, alpha*(e^(x/alpha) - 1))   alpha 1.0
//   Selu        gamma * (x > 0 ? x : alpha*(e^x - 1))      alpha 1.67326319217681884765625,
//                                                          gamma 1.05070102214813232421875
//   HardSigmoid max(0, min(1, alpha*x + beta))             alpha 0.2, beta 0.5
//   HardSwish   x * max(0, min(1, x/6 + 1/2))
//   ThresholdedRelu x > alpha ? x : 0                      alpha 1.0
//   Gelu (opset 20) approximate "none": x/2 · (1 + erf(x/√2)); "tanh": x/2 · (1 + tanh(√(2/π)·(x + 0.044715x³)))
//   Softplus    log(1 + e^x), computed as max(x,0) + log1p(e^-|x|) so it does not overflow
//   Round       half to even (std::nearbyint in the default rounding mode)
// Exp, Sigmoid, Elu and Selu use the vectorizable exp_fast (fast_math.h, <= 1 ulp) for float.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "eltwise.h"
#include "fast_math.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

// ---- scalar functions -----------------------------------------------------------------------------
#define PTQ_UNARY_OP(Name, expr) \
  struct Name {                  \
    template <class T>           \
    T operator()(T x) const {    \
      return expr;               \
    }                            \
  };
PTQ_UNARY_OP(SqrtOp, std::sqrt(x))
PTQ_UNARY_OP(ExpOp, exp_of(x))
PTQ_UNARY_OP(LogOp, std::log(x))
PTQ_UNARY_OP(ErfOp, std::erf(x))
PTQ_UNARY_OP(TanhOp, std::tanh(x))
PTQ_UNARY_OP(SigmoidOp, T(1) / (T(1) + exp_of(-x)))
PTQ_UNARY_OP(ReciprocalOp, T(1) / x)
PTQ_UNARY_OP(FloorOp, std::floor(x))
PTQ_UNARY_OP(CeilOp, std::ceil(x))
PTQ_UNARY_OP(RoundOp, std::nearbyint(x))
PTQ_UNARY_OP(SoftplusOp, std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x))))
PTQ_UNARY_OP(SoftsignOp, x / (T(1) + std::abs(x)))
PTQ_UNARY_OP(SinOp, std::sin(x))
PTQ_UNARY_OP(CosOp, std::cos(x))
PTQ_UNARY_OP(TanOp, std::tan(x))
PTQ_UNARY_OP(AsinOp, std::asin(x))
PTQ_UNARY_OP(AcosOp, std::acos(x))
PTQ_UNARY_OP(AtanOp, std::atan(x))
PTQ_UNARY_OP(SinhOp, std::sinh(x))
PTQ_UNARY_OP(CoshOp, std::cosh(x))
PTQ_UNARY_OP(AsinhOp, std::asinh(x))
PTQ_UNARY_OP(AcoshOp, std::acosh(x))
PTQ_UNARY_OP(AtanhOp, std::atanh(x))
PTQ_UNARY_OP(HardSwishOp, x * std::max(T(0), std::min(T(1), x / T(6) + T(0.5))))
PTQ_UNARY_OP(ReluOp, x > T(0) ? x : T(0))
PTQ_UNARY_OP(NegOp, static_cast<T>(-x))
#undef PTQ_UNARY_OP

struct AbsOp {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_signed_v<T>) return x < T(0) ? static_cast<T>(-x) : x;
    return x;
  }
};
struct SignOp {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_signed_v<T>) return static_cast<T>(x > T(0) ? 1 : (x < T(0) ? -1 : 0));
    return static_cast<T>(x > T(0) ? 1 : 0);
  }
};

struct LeakyReluOp {
  float alpha;
  template <class T>
  // max(x, 0) + alpha * min(x, 0): x >= 0 ? x : alpha * x in a form that vectorizes (the fused
  // epilogue, post_ops.cpp, computes the same expression).
  T operator()(T x) const { return std::max(x, T(0)) + T(alpha) * std::min(x, T(0)); }
};
struct EluOp {
  float alpha;
  template <class T>
  T operator()(T x) const { return x >= T(0) ? x : T(alpha) * (exp_of(x) - T(1)); }
};
struct CeluOp {
  float alpha;
  template <class T>
  T operator()(T x) const { return std::max(T(0), x) + std::min(T(0), T(alpha) * (std::exp(x / T(alpha)) - T(1))); }
};
struct SeluOp {
  float alpha, gamma;
  template <class T>
  T operator()(T x) const { return T(gamma) * (x > T(0) ? x : T(alpha) * (exp_of(x) - T(1))); }
};
struct HardSigmoidOp {
  float alpha, beta;
  template <class T>
  T operator()(T x) const { return std::max(T(0), std::min(T(1), T(alpha) * x + T(beta))); }
};
struct GeluOp {
  bool tanh_form;
  template <class T>
  T operator()(T x) const {
    if (!tanh_form) return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    return T(0.5) * x * (T(1) + std::tanh(T(0.79788456080286535588) * (x + T(0.044715) * x * x * x)));
  }
};
struct ThresholdedReluOp {
  float alpha;
  template <class T>
  T operator()(T x) const { return x > T(alpha) ? x : T(0); }
};

// ---- dispatch ---------------------------------------------------------------------------------------
template <class TypeList, class Op>
Kernel unary(const Node& node, Op op) {
  expect_inputs(node, 1, 1);
  return [op](KernelIO& io) {
    const Tensor& x = io.in(0);
    dispatch(x.dtype(), TypeList{}, [&](auto tag) {
      using T = decltype(tag);
      unary_kernel<T>(x, io.outputs[0], op, io.threads);
    });
  };
}

template <class Op>
Kernel float_unary(const Node& node) { return unary<FloatTypes>(node, Op{}); }

}  // namespace

Kernel make_sqrt(const Node& node) { return float_unary<SqrtOp>(node); }
Kernel make_exp(const Node& node) { return float_unary<ExpOp>(node); }
Kernel make_log(const Node& node) { return float_unary<LogOp>(node); }
Kernel make_erf(const Node& node) { return float_unary<ErfOp>(node); }
Kernel make_tanh(const Node& node) { return float_unary<TanhOp>(node); }
Kernel make_sigmoid(const Node& node) { return float_unary<SigmoidOp>(node); }
Kernel make_reciprocal(const Node& node) { return float_unary<ReciprocalOp>(node); }
Kernel make_floor(const Node& node) { return float_unary<FloorOp>(node); }
Kernel make_ceil(const Node& node) { return float_unary<CeilOp>(node); }
Kernel make_round(const Node& node) { return float_unary<RoundOp>(node); }
Kernel make_softplus(const Node& node) { return float_unary<SoftplusOp>(node); }
Kernel make_softsign(const Node& node) { return float_unary<SoftsignOp>(node); }
Kernel make_sin(const Node& node) { return float_unary<SinOp>(node); }
Kernel make_cos(const Node& node) { return float_unary<CosOp>(node); }
Kernel make_tan(const Node& node) { return float_unary<TanOp>(node); }
Kernel make_asin(const Node& node) { return float_unary<AsinOp>(node); }
Kernel make_acos(const Node& node) { return float_unary<AcosOp>(node); }
Kernel make_atan(const Node& node) { return float_unary<AtanOp>(node); }
Kernel make_sinh(const Node& node) { return float_unary<SinhOp>(node); }
Kernel make_cosh(const Node& node) { return float_unary<CoshOp>(node); }
Kernel make_asinh(const Node& node) { return float_unary<AsinhOp>(node); }
Kernel make_acosh(const Node& node) { return float_unary<AcoshOp>(node); }
Kernel make_atanh(const Node& node) { return float_unary<AtanhOp>(node); }
Kernel make_hard_swish(const Node& node) { return float_unary<HardSwishOp>(node); }
Kernel make_relu(const Node& node) { return unary<SignedTypes>(node, ReluOp{}); }
Kernel make_neg(const Node& node) { return unary<SignedTypes>(node, NegOp{}); }
Kernel make_abs(const Node& node) { return unary<NumericTypes>(node, AbsOp{}); }
Kernel make_sign(const Node& node) { return unary<NumericTypes>(node, SignOp{}); }

Kernel make_leaky_relu(const Node& node) {
  return unary<FloatTypes>(node, LeakyReluOp{node.attr_float("alpha", 0.01f)});
}
Kernel make_elu(const Node& node) { return unary<FloatTypes>(node, EluOp{node.attr_float("alpha", 1.0f)}); }
Kernel make_celu(const Node& node) { return unary<FloatTypes>(node, CeluOp{node.attr_float("alpha", 1.0f)}); }
Kernel make_selu(const Node& node) {
  return unary<FloatTypes>(node, SeluOp{node.attr_float("alpha", 1.67326319217681884765625f),
                                        node.attr_float("gamma", 1.05070102214813232421875f)});
}
Kernel make_hard_sigmoid(const Node& node) {
  return unary<FloatTypes>(node, HardSigmoidOp{node.attr_float("alpha", 0.2f), node.attr_float("beta", 0.5f)});
}
Kernel make_gelu(const Node& node) {
  const std::string form = node.attr_string("approximate", "none");
  if (form != "none" && form != "tanh") PTQ_FAIL(UnsupportedError, "approximate = '", form, "' (expected none or tanh)");
  return unary<FloatTypes>(node, GeluOp{form == "tanh"});
}
Kernel make_thresholded_relu(const Node& node) {
  return unary<FloatTypes>(node, ThresholdedReluOp{node.attr_float("alpha", 1.0f)});
}

}  // namespace ptq::exec
