// SPDX-License-Identifier: Apache-2.0
// Kernel factories, grouped by the file that defines them. Each is one row of kernel_table.cpp.
#pragma once

#include "ptq/exec/kernel.h"

namespace ptq::exec {

// eltwise_unary.cpp
Kernel make_sqrt(const Node& node);
Kernel make_exp(const Node& node);
Kernel make_log(const Node& node);
Kernel make_erf(const Node& node);
Kernel make_tanh(const Node& node);
Kernel make_sigmoid(const Node& node);
Kernel make_reciprocal(const Node& node);
Kernel make_floor(const Node& node);
Kernel make_ceil(const Node& node);
Kernel make_round(const Node& node);
Kernel make_softplus(const Node& node);
Kernel make_softsign(const Node& node);
Kernel make_sin(const Node& node);
Kernel make_cos(const Node& node);
Kernel make_tan(const Node& node);
Kernel make_asin(const Node& node);
Kernel make_acos(const Node& node);
Kernel make_atan(const Node& node);
Kernel make_sinh(const Node& node);
Kernel make_cosh(const Node& node);
Kernel make_asinh(const Node& node);
Kernel make_acosh(const Node& node);
Kernel make_atanh(const Node& node);
Kernel make_hard_swish(const Node& node);
Kernel make_relu(const Node& node);
Kernel make_neg(const Node& node);
Kernel make_abs(const Node& node);
Kernel make_sign(const Node& node);
Kernel make_leaky_relu(const Node& node);
Kernel make_gelu(const Node& node);
Kernel make_elu(const Node& node);
Kernel make_celu(const Node& node);
Kernel make_selu(const Node& node);
Kernel make_hard_sigmoid(const Node& node);
Kernel make_thresholded_relu(const Node& node);

// clip.cpp
Kernel make_clip(const Node& node);

// eltwise_binary.cpp
Kernel make_add(const Node& node);
Kernel make_sub(const Node& node);
Kernel make_mul(const Node& node);
Kernel make_div(const Node& node);
Kernel make_pow(const Node& node);
Kernel make_prelu(const Node& node);
Kernel make_mod(const Node& node);

// eltwise_variadic.cpp
Kernel make_max(const Node& node);
Kernel make_min(const Node& node);
Kernel make_sum(const Node& node);
Kernel make_mean(const Node& node);

// compare_logic.cpp
Kernel make_equal(const Node& node);
Kernel make_less(const Node& node);
Kernel make_greater(const Node& node);
Kernel make_less_or_equal(const Node& node);
Kernel make_greater_or_equal(const Node& node);
Kernel make_not(const Node& node);
Kernel make_and(const Node& node);
Kernel make_or(const Node& node);
Kernel make_xor(const Node& node);
Kernel make_is_nan(const Node& node);
Kernel make_is_inf(const Node& node);
Kernel make_where(const Node& node);

// softmax.cpp
Kernel make_softmax(const Node& node);
Kernel make_log_softmax(const Node& node);
Kernel make_hardmax(const Node& node);

// reduce.cpp
Kernel make_reduce_sum(const Node& node);
Kernel make_reduce_mean(const Node& node);
Kernel make_reduce_max(const Node& node);
Kernel make_reduce_min(const Node& node);
Kernel make_reduce_prod(const Node& node);
Kernel make_reduce_l1(const Node& node);
Kernel make_reduce_l2(const Node& node);
Kernel make_reduce_log_sum(const Node& node);
Kernel make_reduce_log_sum_exp(const Node& node);
Kernel make_reduce_sum_square(const Node& node);

// argminmax.cpp
Kernel make_arg_max(const Node& node);
Kernel make_arg_min(const Node& node);
Kernel make_top_k(const Node& node);

// shape_ops.cpp
Kernel make_identity(const Node& node);
Kernel make_reshape(const Node& node);
Kernel make_flatten(const Node& node);
Kernel make_squeeze(const Node& node);
Kernel make_unsqueeze(const Node& node);
Kernel make_shape(const Node& node);
Kernel make_size(const Node& node);
Kernel make_dropout(const Node& node);

// transpose.cpp
Kernel make_transpose(const Node& node);
Kernel make_depth_to_space(const Node& node);
Kernel make_space_to_depth(const Node& node);

// concat_split.cpp
Kernel make_concat(const Node& node);
Kernel make_split(const Node& node);

// slice_gather.cpp
Kernel make_slice(const Node& node);
Kernel make_gather(const Node& node);
Kernel make_gather_elements(const Node& node);

// scatter_gather_nd.cpp
Kernel make_scatter_elements(const Node& node);
Kernel make_scatter_nd(const Node& node);
Kernel make_gather_nd(const Node& node);

// cumsum.cpp
Kernel make_cumsum(const Node& node);

// masks.cpp
Kernel make_non_zero(const Node& node);
Kernel make_trilu(const Node& node);

// expand_tile.cpp
Kernel make_expand(const Node& node);
Kernel make_tile(const Node& node);

// pad.cpp
Kernel make_pad(const Node& node);

// cast.cpp
Kernel make_cast(const Node& node);
Kernel make_cast_like(const Node& node);

// generators.cpp
Kernel make_constant_of_shape(const Node& node);
Kernel make_range(const Node& node);

// resize.cpp
Kernel make_resize(const Node& node);
Kernel make_upsample(const Node& node);

// control_flow.cpp
Kernel make_if(const Node& node);
Kernel make_loop(const Node& node);
Kernel make_scan(const Node& node);

// ---- compute kernels (exec-compute) ----
class PostOps;

// conv.cpp, conv_transpose.cpp, gemm.cpp: the *_fused forms run post-ops (post_ops.h) in their
// epilogue (executor fusion, src/exec/fusion.cpp).
Kernel make_conv(const Node& node);
Kernel make_conv_fused(const Node& node, const PostOps& post);
// The plain and blocked (layout.h) forms of a Conv head, sharing oneDNN's packed weights.
struct LayoutKernels;
LayoutKernels make_conv_layout(const Node& node, const PostOps& post);
// resize.cpp: the blocked form of a Resize of the spatial axes (the plain one stays make_resize).
LayoutKernels make_resize_layout(const Node& node, const PostOps& post);
Kernel make_conv_transpose(const Node& node);
Kernel make_conv_transpose_fused(const Node& node, const PostOps& post);
Kernel make_gemm(const Node& node);
Kernel make_gemm_fused(const Node& node, const PostOps& post);
Kernel make_matmul(const Node& node);
Kernel make_matmul_fused(const Node& node, const PostOps& post);

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
Kernel make_rnn(const Node& node);
// dynamic_quantize_lstm.cpp (com.microsoft)
Kernel make_dynamic_quantize_lstm(const Node& node);

// quantize_ops.cpp
Kernel make_quantize_linear(const Node& node);
Kernel make_dequantize_linear(const Node& node);
Kernel make_dynamic_quantize_linear(const Node& node);

// integer_gemm.cpp
Kernel make_matmul_integer(const Node& node);
Kernel make_matmul_nbits(const Node& node);  // com.microsoft MatMulNBits (matmul_nbits.cpp)
Kernel make_gather_block_quantized(const Node& node);  // com.microsoft GatherBlockQuantized (gather_block_quantized.cpp)
Kernel make_conv_integer(const Node& node);

}  // namespace ptq::exec
