// SPDX-License-Identifier: Apache-2.0
// The kernel table: one row per (domain, op type). find_kernel() and find_unsupported_nodes() read it,
// and the conformance test runs ONNX's node tests for every row.
#include "kernels/kernels.h"

namespace ptq::exec {

const std::vector<KernelEntry>& kernel_table() {
  static const std::vector<KernelEntry> table = {
      // elementwise, unary (kernels/eltwise_unary.cpp)
      {"", "Relu", &make_relu},

      // elementwise, binary (kernels/eltwise_binary.cpp)
      {"", "Add", &make_add},
      {"", "Sub", &make_sub},
      {"", "Mul", &make_mul},
      {"", "Div", &make_div},

      // shape and data movement (kernels/shape_ops.cpp)
      {"", "Identity", &make_identity},
      {"", "Reshape", &make_reshape},
  };
  return table;
}

}  // namespace ptq::exec
