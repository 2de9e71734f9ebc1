// SPDX-License-Identifier: Apache-2.0
// Float-to-float graph passes run before planning (the part of ONNX Runtime's quant_pre_process that
// matters for quantization): they remove ops that would otherwise sit between a quantized op and its
// Q/DQ and block ONNX Runtime's integer fusions. Call them on the model before build_graph/plan, so
// calibration observes the simplified graph.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "ptq/rewrite/quantizer.h"

namespace ptq::rewrite {

struct PassResult {
  onnx::ModelProto model;
  size_t changed = 0;  // patterns rewritten
};

// fold_batch_norm: Conv/ConvTranspose → BatchNormalization (inference mode) becomes one Conv with
// folded weights; see src/rewrite/passes/fold_batch_norm.cpp for the conditions and the formula.
PassResult fold_batch_norm(const onnx::ModelProto& model);

// fold_qat_weights: QuantizeLinear → DequantizeLinear pairs on constant float weights (a QAT export)
// become one DequantizeLinear of an integer initializer; activation Q/DQ pairs stay. See
// src/rewrite/passes/fold_qat_weights.cpp.
PassResult fold_qat_weights(const onnx::ModelProto& model);
// True when the model's graph has QuantizeLinear or DequantizeLinear nodes (a QAT export).
bool has_qdq(const onnx::ModelProto& model);

// fp16 models (src/rewrite/passes/float16_io.cpp): float16_to_float32 widens every float16 tensor, value
// and Cast of the model to float32 (ptq then works as on an FP32 model) and names the graph inputs and
// outputs that were float16; restore_float16_io gives the written model those float16 inputs and
// outputs back (Cast nodes at the edges).
struct Float16Result {
  onnx::ModelProto model;
  size_t changed = 0;                       // tensors, values and Casts widened
  std::vector<std::string> inputs, outputs;  // graph inputs / outputs that were float16
};
Float16Result float16_to_float32(const onnx::ModelProto& model);
void restore_float16_io(onnx::ModelProto& model, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);

// New values for existing weights (initializers or Constant nodes of the main graph), same names, dtypes
// and shapes: what a weight transform such as AdaRound writes back (src/rewrite/passes/replace_weights.cpp).
PassResult replace_weights(const onnx::ModelProto& model, const std::map<std::string, Tensor>& weights);

// SmoothQuant (src/rewrite/passes/smooth_quant.cpp), run before calibration: smooth_quant_inputs() names
// the activations whose per-channel max|x| it needs (channel axis, for calib::channel_absmax);
// smooth_quant() divides each by s (folded into its producer, or through an inserted Mul) and multiplies
// the rows of its MatMul/Gemm readers' weights by s. Plan the result again.
struct SmoothQuantResult {
  onnx::ModelProto model;
  size_t smoothed = 0;  // activations smoothed
  size_t folded = 0;    // of them, with 1/s folded into the producer
  size_t inserted = 0;  // of them, through an inserted Mul
};
std::map<std::string, int> smooth_quant_inputs(const Graph& graph);
SmoothQuantResult smooth_quant(const onnx::ModelProto& model, const Graph& graph,
                               const std::map<std::string, std::vector<double>>& absmax, float alpha);
// The readers SmoothQuant scales for activation X: MatMul/Gemm nodes reading X as A with a constant 2-D
// float weight (Gemm: transA = 0).
std::vector<int> smooth_quant_readers(const Graph& graph, const std::string& x);
// Channel equalization (src/rewrite/passes/channel_equalize.cpp), run before calibration: per-channel
// ranges where one per-tensor grid cannot hold a convolutional tensor's channels, the convolutions
// staying integer. equalize_inputs() names the candidate tensors (channel axis 1, for
// calib::channel_absmax): outputs of Convs read only by element-wise activations, and activations read
// only by Convs. equalize_channels() equalizes those whose noise gain mean_c (max a / a_c)² (a: the
// per-channel max|x|) is at least min_gain. Plan the result again with kept_float in the options.
struct EqualizeResult {
  onnx::ModelProto model;
  KeptFloat kept_float;
  size_t outputs = 0;  // Conv outputs written divided by s and restored by a Mul
  size_t inputs = 0;   // Conv inputs divided by s (in the producing Conv, or through a Mul)
};
std::map<std::string, int> equalize_inputs(const Graph& graph);
EqualizeResult equalize_channels(const onnx::ModelProto& model, const Graph& graph,
                                 const std::map<std::string, std::vector<double>>& absmax, double min_gain);

// Channel splitting (src/rewrite/passes/channel_split.cpp), run before calibration: a Conv whose output
// channels' ranges one per-tensor grid cannot hold, read through element-wise activations by a
// depthwise Conv, becomes one chain per group of channels of similar range (each its own per-tensor
// grids), concatenated and put back in channel order after the depthwise Conv's activations.
// split_inputs() names the candidate Conv outputs (channel axis 1, for calib::channel_absmax);
// split_channels() splits those whose noise gain (see equalize_channels) is at least min_gain.
struct SplitResult {
  onnx::ModelProto model;
  size_t convs = 0;   // Conv outputs split
  size_t groups = 0;  // chains written in their place
};
std::map<std::string, int> split_inputs(const Graph& graph);
SplitResult split_channels(const onnx::ModelProto& model, const Graph& graph,
                           const std::map<std::string, std::vector<double>>& absmax, double min_gain);

// SmoothQuant's rewrite with given scales (AWQ's): each X of `scales` (one s_j per channel of its last
// axis) divided by s, its readers' weight rows multiplied by s.
SmoothQuantResult scale_channels(const onnx::ModelProto& model, const Graph& graph,
                                 const std::map<std::string, std::vector<double>>& scales);

// Bias correction, run after calibration (see src/rewrite/passes/bias_correction.cpp): the layers it
// applies to need the per-channel means of their input; bias_correction_inputs() names those inputs
// with their channel axis (for calib::channel_means), correct_biases() gives each such layer a new
// bias b - (W_q - W) · E[x] (W_q from the table's weight parameters). Plan the result again: a layer
// that had no bias now has one.
std::map<std::string, int> bias_correction_inputs(const Graph& graph, const QuantPlan& plan, const calib::CalibTable& table);
PassResult correct_biases(const onnx::ModelProto& model, const Graph& graph, const QuantPlan& plan, const calib::CalibTable& table,
                          const std::map<std::string, std::vector<double>>& means);
// The same corrections on a copy of the Graph (same nodes, same indices; a corrected bias is a new weight
// "<output>_bias_corrected"), for simulations that try several plans (search/precision_search.h).
Graph correct_graph_biases(const Graph& graph, const QuantPlan& plan, const calib::CalibTable& table,
                           const std::map<std::string, std::vector<double>>& means);

}  // namespace ptq::rewrite
