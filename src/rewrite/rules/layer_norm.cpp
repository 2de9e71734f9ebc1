// SPDX-License-Identifier: Apache-2.0
// Rule for LayerNormalization, as ONNX Runtime's QDQ quantizer treats it (operators/norm.py,
// QDQNormalization): X is an activation; Scale (γ) a weight, per channel along its last axis (the
// normalized channels) when per-channel weights are on — a computed γ is an activation; B (β) an int32
// bias with scale s_X · s_γ[c] when γ is a weight; Y has its own parameters (the optional Mean and
// InvStdDev outputs stay float). ONNX Runtime has no integer LayerNormalization: the node runs in float
// between DequantizeLinear and QuantizeLinear, and its quantized output feeds the integer MatMuls after it.
#include "rules.h"

namespace ptq::rewrite {

RuleDecision rule_layer_norm(const Node& node, const RuleContext& ctx) {
  for (size_t i : {0u, 1u})
    if (std::string why = require_float_input(node, i, ctx); !why.empty()) return skip_node(why);
  const std::string y = node.outputs.empty() ? std::string() : node.outputs[0];
  if (y.empty() || ctx.dtype(y) != DType::Float32) return skip_node("output Y is not float32");
  RuleDecision d;
  d.inputs.push_back({0, InputUse::Activation});
  const bool constant_scale = ctx.is_weight(node.input(1));
  if (constant_scale) d.inputs.push_back({1, InputUse::Weight, ctx.rank(node.input(1)) - 1});
  else d.inputs.push_back({1, InputUse::Activation});
  const std::string& bias = node.input(2);
  if (!bias.empty() && constant_scale && ctx.is_weight(bias) && ctx.is_float(bias)) d.inputs.push_back({2, InputUse::Bias, -1, 0, 1});
  d.outputs.push_back({0, OutputUse::Own});
  return d;
}

}  // namespace ptq::rewrite
