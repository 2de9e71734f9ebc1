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

      // ---- compute kernels (exec-compute) ----
      // convolution and matrix products (kernels/conv.cpp, conv_transpose.cpp, gemm.cpp)
      {"", "Conv", &make_conv},
      {"", "ConvTranspose", &make_conv_transpose},
      {"", "Gemm", &make_gemm},
      {"", "MatMul", &make_matmul},

      // pooling (kernels/pool.cpp)
      {"", "MaxPool", &make_max_pool},
      {"", "AveragePool", &make_average_pool},
      {"", "GlobalAveragePool", &make_global_average_pool},
      {"", "GlobalMaxPool", &make_global_max_pool},

      // normalization (kernels/norm.cpp)
      {"", "BatchNormalization", &make_batch_normalization},
      {"", "InstanceNormalization", &make_instance_normalization},
      {"", "LayerNormalization", &make_layer_normalization},

      // recurrent (kernels/rnn.cpp)
      {"", "LSTM", &make_lstm},
      {"", "GRU", &make_gru},

      // quantization (kernels/quantize_ops.cpp, integer_gemm.cpp)
      {"", "QuantizeLinear", &make_quantize_linear},
      {"", "DequantizeLinear", &make_dequantize_linear},
      {"com.microsoft", "QuantizeLinear", &make_quantize_linear},
      {"com.microsoft", "DequantizeLinear", &make_dequantize_linear},
      {"", "DynamicQuantizeLinear", &make_dynamic_quantize_linear},
      {"", "MatMulInteger", &make_matmul_integer},
      {"", "ConvInteger", &make_conv_integer},
  };
  return table;
}

}  // namespace ptq::exec
