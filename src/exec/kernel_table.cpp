// SPDX-License-Identifier: Apache-2.0
// The kernel table: one row per (domain, op type). find_kernel() and find_unsupported_nodes() read it,
// and the conformance test runs ONNX's node tests for every row.
#include "kernels/kernels.h"

namespace ptq::exec {

const std::vector<KernelEntry>& kernel_table() {
  static const std::vector<KernelEntry> table = {
      // elementwise, unary (kernels/eltwise_unary.cpp)
      {"", "Sqrt",            &make_sqrt},
      {"", "Exp",             &make_exp},
      {"", "Log",             &make_log},
      {"", "Erf",             &make_erf},
      {"", "Tanh",            &make_tanh},
      {"", "Sigmoid",         &make_sigmoid},
      {"", "Reciprocal",      &make_reciprocal},
      {"", "Floor",           &make_floor},
      {"", "Ceil",            &make_ceil},
      {"", "Round",           &make_round},
      {"", "Softplus",        &make_softplus},
      {"", "Softsign",        &make_softsign},
      {"", "Sin",             &make_sin},
      {"", "Cos",             &make_cos},
      {"", "Tan",             &make_tan},
      {"", "Asin",            &make_asin},
      {"", "Acos",            &make_acos},
      {"", "Atan",            &make_atan},
      {"", "Sinh",            &make_sinh},
      {"", "Cosh",            &make_cosh},
      {"", "Asinh",           &make_asinh},
      {"", "Acosh",           &make_acosh},
      {"", "Atanh",           &make_atanh},
      {"", "HardSwish",       &make_hard_swish},
      {"", "Relu",            &make_relu},
      {"", "Neg",             &make_neg},
      {"", "Abs",             &make_abs},
      {"", "Sign",            &make_sign},
      {"", "LeakyRelu",       &make_leaky_relu},
      {"", "Elu",             &make_elu},
      {"", "Celu",            &make_celu},
      {"", "Selu",            &make_selu},
      {"", "HardSigmoid",     &make_hard_sigmoid},
      {"", "ThresholdedRelu", &make_thresholded_relu},
      {"", "Gelu",            &make_gelu},

      // clip (kernels/clip.cpp)
      {"", "Clip",            &make_clip},

      // elementwise, binary (kernels/eltwise_binary.cpp)
      {"", "Add",             &make_add},
      {"", "Sub",             &make_sub},
      {"", "Mul",             &make_mul},
      {"", "Div",             &make_div},
      {"", "Pow",             &make_pow},
      {"", "PRelu",           &make_prelu},
      {"", "Mod",             &make_mod},

      // elementwise, variadic (kernels/eltwise_variadic.cpp)
      {"", "Max",             &make_max},
      {"", "Min",             &make_min},
      {"", "Sum",             &make_sum},
      {"", "Mean",            &make_mean},

      // comparisons, logic, select (kernels/compare_logic.cpp)
      {"", "Equal",           &make_equal},
      {"", "Less",            &make_less},
      {"", "Greater",         &make_greater},
      {"", "LessOrEqual",     &make_less_or_equal},
      {"", "GreaterOrEqual",  &make_greater_or_equal},
      {"", "Not",             &make_not},
      {"", "And",             &make_and},
      {"", "Or",              &make_or},
      {"", "Xor",             &make_xor},
      {"", "IsNaN",           &make_is_nan},
      {"", "IsInf",           &make_is_inf},
      {"", "Where",           &make_where},

      // softmax, hardmax (kernels/softmax.cpp)
      {"", "Softmax",         &make_softmax},
      {"", "LogSoftmax",      &make_log_softmax},
      {"", "Hardmax",         &make_hardmax},

      // reductions (kernels/reduce.cpp)
      {"", "ReduceSum",       &make_reduce_sum},
      {"", "ReduceMean",      &make_reduce_mean},
      {"", "ReduceMax",       &make_reduce_max},
      {"", "ReduceMin",       &make_reduce_min},
      {"", "ReduceProd",      &make_reduce_prod},
      {"", "ReduceL1",        &make_reduce_l1},
      {"", "ReduceL2",        &make_reduce_l2},
      {"", "ReduceLogSum",    &make_reduce_log_sum},
      {"", "ReduceLogSumExp", &make_reduce_log_sum_exp},
      {"", "ReduceSumSquare", &make_reduce_sum_square},

      // arg reductions, top-k (kernels/argminmax.cpp)
      {"", "ArgMax",          &make_arg_max},
      {"", "ArgMin",          &make_arg_min},
      {"", "TopK",            &make_top_k},

      // shape and views (kernels/shape_ops.cpp)
      {"", "Identity",        &make_identity},
      {"", "Reshape",         &make_reshape},
      {"", "Flatten",         &make_flatten},
      {"", "Squeeze",         &make_squeeze},
      {"", "Unsqueeze",       &make_unsqueeze},
      {"", "Shape",           &make_shape},
      {"", "Size",            &make_size},
      {"", "Dropout",         &make_dropout},

      // axis permutations (kernels/transpose.cpp)
      {"", "Transpose",       &make_transpose},
      {"", "DepthToSpace",    &make_depth_to_space},
      {"", "SpaceToDepth",    &make_space_to_depth},

      // concat, split (kernels/concat_split.cpp)
      {"", "Concat",          &make_concat},
      {"", "Split",           &make_split},

      // indexing (kernels/slice_gather.cpp)
      {"", "Slice",           &make_slice},
      {"", "Gather",          &make_gather},
      {"", "GatherElements",  &make_gather_elements},

      // scatter, N-d gather (kernels/scatter_gather_nd.cpp)
      {"", "ScatterElements", &make_scatter_elements},
      {"", "Scatter",         &make_scatter_elements},
      {"", "ScatterND",       &make_scatter_nd},
      {"", "GatherND",        &make_gather_nd},

      // running sums (kernels/cumsum.cpp)
      {"", "CumSum",          &make_cumsum},

      // position masks (kernels/masks.cpp)
      {"", "NonZero",         &make_non_zero},
      {"", "Trilu",           &make_trilu},

      // broadcasting copies (kernels/expand_tile.cpp)
      {"", "Expand",          &make_expand},
      {"", "Tile",            &make_tile},

      // padding (kernels/pad.cpp)
      {"", "Pad",             &make_pad},

      // dtype conversion (kernels/cast.cpp)
      {"", "Cast",            &make_cast},
      {"", "CastLike",        &make_cast_like},

      // tensor generators (kernels/generators.cpp)
      {"", "ConstantOfShape", &make_constant_of_shape},
      {"", "Range",           &make_range},

      // interpolation (kernels/resize.cpp)
      {"", "Resize",          &make_resize},
      {"", "Upsample",        &make_upsample},

      // control flow (kernels/control_flow.cpp)
      {"", "If",              &make_if},
      {"", "Loop",            &make_loop},
      {"", "Scan",            &make_scan},

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
      {"", "RNN", &make_rnn},

      // quantization (kernels/quantize_ops.cpp, integer_gemm.cpp)
      {"", "QuantizeLinear", &make_quantize_linear},
      {"", "DequantizeLinear", &make_dequantize_linear},
      {"com.microsoft", "QuantizeLinear", &make_quantize_linear},
      {"com.microsoft", "DequantizeLinear", &make_dequantize_linear},
      {"com.microsoft", "DynamicQuantizeLSTM", &make_dynamic_quantize_lstm},
      {"com.microsoft", "MatMulNBits", &make_matmul_nbits},
      {"com.microsoft", "GatherBlockQuantized", &make_gather_block_quantized},
      {"", "DynamicQuantizeLinear", &make_dynamic_quantize_linear},
      {"", "MatMulInteger", &make_matmul_integer},
      {"", "ConvInteger", &make_conv_integer},
  };
  return table;
}

}  // namespace ptq::exec
