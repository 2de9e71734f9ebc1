// SPDX-License-Identifier: Apache-2.0
// Binary arithmetic with numpy broadcasting (Add, Sub, Mul, Div) over float and integer dtypes
// (integer results wrap like C++ unsigned/ONNX Runtime).
// Integer Div truncates toward zero, as ONNX Runtime does.
#include "eltwise.h"
#include "kernels.h"

namespace ptq::exec {
namespace {

template <class Op>
Kernel arithmetic(const Node& node) {
  expect_inputs(node, 2, 2);
  return [](KernelIO& io) {
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    if (a.dtype() != b.dtype())
      PTQ_FAIL(ModelError, "input dtypes differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
    switch (a.dtype()) {
      case DType::Float32: binary_kernel<float, float>(a, b, io.outputs[0], Op()); break;
      case DType::Int32: binary_kernel<int32_t, int32_t>(a, b, io.outputs[0], Op()); break;
      case DType::Int64: binary_kernel<int64_t, int64_t>(a, b, io.outputs[0], Op()); break;
      case DType::Float64: binary_kernel<double, double>(a, b, io.outputs[0], Op()); break;
      case DType::Int8: binary_kernel<int8_t, int8_t>(a, b, io.outputs[0], Op()); break;
      case DType::UInt8: binary_kernel<uint8_t, uint8_t>(a, b, io.outputs[0], Op()); break;
      case DType::Int16: binary_kernel<int16_t, int16_t>(a, b, io.outputs[0], Op()); break;
      case DType::UInt16: binary_kernel<uint16_t, uint16_t>(a, b, io.outputs[0], Op()); break;
      case DType::UInt32: binary_kernel<uint32_t, uint32_t>(a, b, io.outputs[0], Op()); break;
      case DType::UInt64: binary_kernel<uint64_t, uint64_t>(a, b, io.outputs[0], Op()); break;
      default: PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(a.dtype()), " is not supported");
    }
  };
}

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

}  // namespace

Kernel make_add(const Node& node) { return arithmetic<AddOp>(node); }
Kernel make_sub(const Node& node) { return arithmetic<SubOp>(node); }
Kernel make_mul(const Node& node) { return arithmetic<MulOp>(node); }
Kernel make_div(const Node& node) { return arithmetic<DivOp>(node); }

}  // namespace ptq::exec
