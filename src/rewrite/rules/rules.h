// SPDX-License-Identifier: Apache-2.0
// Rule functions of the Q/DQ rule table (one file per op family) and the helpers they share.
#pragma once

#include "ptq/rewrite/qdq_rules.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::rewrite {

// conv.cpp: Conv (weight axis 0), ConvTranspose (weight axis 1).
RuleDecision rule_conv(const Node& node, const RuleContext& ctx);
// matmul.cpp: Gemm (weight axis 0 if transB else 1), MatMul (weight axis = last).
RuleDecision rule_gemm(const Node& node, const RuleContext& ctx);
RuleDecision rule_matmul(const Node& node, const RuleContext& ctx);
// own_scales.cpp: every float input and the output with their own parameters.
RuleDecision rule_own_scales(const Node& node, const RuleContext& ctx);
// passthrough.cpp: data movement; outputs reuse the data input's parameters.
RuleDecision rule_passthrough(const Node& node, const RuleContext& ctx);
RuleDecision rule_pad(const Node& node, const RuleContext& ctx);
RuleDecision rule_gather(const Node& node, const RuleContext& ctx);
RuleDecision rule_slice(const Node& node, const RuleContext& ctx);
// channel_scale.cpp: Mul; a per-channel constant scale feeding MatMul/Gemm quantizes only its output.
RuleDecision rule_mul(const Node& node, const RuleContext& ctx);
// layer_norm.cpp: LayerNormalization (γ a weight along its last axis, β an int32 bias).
RuleDecision rule_layer_norm(const Node& node, const RuleContext& ctx);
// divide.cpp: Div by a divisor that does not depend on the data.
RuleDecision rule_div(const Node& node, const RuleContext& ctx);
// recurrent.cpp: LSTM, GRU, RNN (weights W and R, axis 1).
RuleDecision rule_recurrent(const Node& node, const RuleContext& ctx);
// removable_activation.cpp: Relu, Clip.
RuleDecision rule_removable_activation(const Node& node, const RuleContext& ctx);

// A decision that leaves the node float.
RuleDecision skip_node(std::string reason);
// Skip reason when input `index` is missing or not float32 ("" when it is float32).
std::string require_float_input(const Node& node, size_t index, const RuleContext& ctx);
// Skip reason when some output is not float32.
std::string require_float_outputs(const Node& node, const RuleContext& ctx);

}  // namespace ptq::rewrite
