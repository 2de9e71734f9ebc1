// SPDX-License-Identifier: Apache-2.0
// Kernel factories, grouped by the file that defines them. Each is one row of kernel_table.cpp.
#pragma once

#include "ptq/exec/kernel.h"

namespace ptq::exec {

// eltwise_unary.cpp
Kernel make_relu(const Node& node);

// eltwise_binary.cpp
Kernel make_add(const Node& node);
Kernel make_sub(const Node& node);
Kernel make_mul(const Node& node);
Kernel make_div(const Node& node);

// shape_ops.cpp
Kernel make_identity(const Node& node);
Kernel make_reshape(const Node& node);

// ---- compute kernels (exec-compute) ----
struct Activation;

// conv.cpp, conv_transpose.cpp, gemm.cpp: the *_activation forms take a fused activation (executor fusion).
Kernel make_conv(const Node& node);
Kernel make_conv_activation(const Node& node, const Activation& act);
Kernel make_conv_transpose(const Node& node);
Kernel make_conv_transpose_activation(const Node& node, const Activation& act);
Kernel make_gemm(const Node& node);
Kernel make_gemm_activation(const Node& node, const Activation& act);
Kernel make_matmul(const Node& node);
Kernel make_matmul_activation(const Node& node, const Activation& act);

// pool.cpp
Kernel make_max_pool(const Node& node);
Kernel make_average_pool(const Node& node);
Kernel make_global_average_pool(const Node& node);
Kernel make_global_max_pool(const Node& node);

// norm.cpp
Kernel make_batch_normalization(const Node& node);
Kernel make_instance_normalization(const Node& node);
Kernel make_layer_normalization(const Node& node);

// rnn.cpp
Kernel make_lstm(const Node& node);
Kernel make_gru(const Node& node);

// quantize_ops.cpp
Kernel make_quantize_linear(const Node& node);
Kernel make_dequantize_linear(const Node& node);
Kernel make_dynamic_quantize_linear(const Node& node);

// integer_gemm.cpp
Kernel make_matmul_integer(const Node& node);
Kernel make_conv_integer(const Node& node);

}  // namespace ptq::exec
