// SPDX-License-Identifier: Apache-2.0
// Binary arithmetic with numpy broadcasting (Add, Sub, Mul, Div, Pow, PRelu) over float and integer
// dtypes (integer results wrap like C++ unsigned/ONNX Runtime).
// Integer Div truncates toward zero, as ONNX Runtime does.
// Pow: base and exponent may have different dtypes (opset 12+); the result has the base's dtype.
// Same-dtype float inputs use std::pow (exponent 2 as a product); mixed or integer inputs are
// computed in double and converted to the base dtype (truncating toward zero, like numpy's astype).
// PRelu: x < 0 ? slope * x : x, slope broadcast to x.
// Mod: fmod = 1 gives the C remainder (sign of the dividend, std::fmod for floats); fmod = 0 (integers
// only) gives the remainder with the sign of the divisor, like Python's %. float16 is computed in
// float32. An integer remainder by zero throws DataError.
#include <cmath>
#include <type_traits>

#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

struct AddOp { template <class T> T operator()(T a, T b) const { return static_cast<T>(a + b); } };
struct SubOp { template <class T> T operator()(T a, T b) const { return static_cast<T>(a - b); } };
struct MulOp { template <class T> T operator()(T a, T b) const { return static_cast<T>(a * b); } };
struct DivOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) PTQ_FAIL(DataError, "integer division by zero");
    }
    return static_cast<T>(a / b);
  }
};
struct PowOp { template <class T> T operator()(T a, T b) const { return static_cast<T>(std::pow(a, b)); } };
struct SquareOp { template <class T> T operator()(T a, T) const { return a * a; } };
struct PReluOp { template <class T> T operator()(T x, T s) const { return x < T(0) ? static_cast<T>(s * x) : x; } };
template <bool CRemainder>
struct ModOp {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(a, b);
    } else {
      if (b == 0) PTQ_FAIL(DataError, "integer remainder by zero");
      T r = static_cast<T>(a % b);
      if constexpr (!CRemainder && std::is_signed_v<T>) {
        if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      }
      return r;
    }
  }
};

template <class Op, class TypeList = NumericTypes>
Kernel arithmetic(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    expect_same_dtype(a, b);
    dispatch(a.dtype(), TypeList{}, [&](auto tag) {
      using T = decltype(tag);
      binary_kernel<T, T>(a, b, io.outputs[0], Op(), io.threads);
    });
  };
}

bool is_scalar_two(const Tensor& t) {
  if (t.numel() != 1) return false;
  if (t.dtype() == DType::Float32) return t.data<float>()[0] == 2.0f;
  if (t.dtype() == DType::Float64) return t.data<double>()[0] == 2.0;
  return false;
}

}  // namespace

Kernel make_add(const Node& node) { return arithmetic<AddOp>(node); }
Kernel make_sub(const Node& node) { return arithmetic<SubOp>(node); }
Kernel make_mul(const Node& node) { return arithmetic<MulOp>(node); }
Kernel make_div(const Node& node) { return arithmetic<DivOp>(node); }
Kernel make_prelu(const Node& node) { return arithmetic<PReluOp, SignedTypes>(node); }

Kernel make_mod(const Node& node) {
  const bool c_remainder = node.attr_int("fmod", 0) != 0;
  Kernel k = c_remainder ? arithmetic<ModOp<true>>(node) : arithmetic<ModOp<false>, IntegerTypes>(node);
  return [k, c_remainder](KernelIO& io) {
    if (io.in(0).dtype() != DType::Float16) {
      if (!c_remainder && dtype_is_float(io.in(0).dtype())) PTQ_FAIL(ModelError, "floating-point Mod needs fmod = 1");
      k(io);
      return;
    }
    Tensor a = cast_tensor(io.in(0), DType::Float32), b = cast_tensor(io.in(1), DType::Float32);
    KernelIO wide = io;
    wide.inputs = {&a, &b};
    k(wide);
    io.outputs[0] = cast_tensor(wide.outputs[0], DType::Float16);
  };
}

Kernel make_pow(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    Tensor& out = io.outputs[0];
    if (a.dtype() == b.dtype() && dtype_is_float(a.dtype()) && a.dtype() != DType::Float16) {
      dispatch(a.dtype(), FloatTypes{}, [&](auto tag) {
        using T = decltype(tag);
        if (is_scalar_two(b)) binary_kernel<T, T>(a, b, out, SquareOp(), io.threads);
        else binary_kernel<T, T>(a, b, out, PowOp(), io.threads);
      });
      return;
    }
    Tensor r;
    binary_kernel<double, double>(cast_tensor(a, DType::Float64), cast_tensor(b, DType::Float64), r, PowOp());
    out = cast_tensor(r, a.dtype());
  };
}

}  // namespace ptq::exec
