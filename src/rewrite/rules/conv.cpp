// SPDX-License-Identifier: Apache-2.0
// Rule for Conv and ConvTranspose.
//   Conv:          Y = conv(X, W) + B,  W [M, C/group, k...]  → per-channel axis 0 (output channels)
//   ConvTranspose: Y = convT(X, W) + B, W [C, M/group, k...]  → per-channel axis 1
// X: activation. W: weight when it is an initializer or Constant (a computed W is quantized as an
// activation, per tensor). B: int32 bias, scale s_X · s_W[c], zero point 0, derived (never
// calibrated); for ConvTranspose with groups, output channel o uses weight channel o mod (M/group).
// Output: own parameters. Dynamic "integer" format: Conv with a constant W becomes ConvInteger.
#include "rules.h"

namespace ptq::rewrite {

RuleDecision rule_conv(const Node& node, const RuleContext& ctx) {
  for (size_t i : {0u, 1u})
    if (std::string why = require_float_input(node, i, ctx); !why.empty()) return skip_node(why);
  if (std::string why = require_float_outputs(node, ctx); !why.empty()) return skip_node(why);
  const bool transpose = node.op_type == "ConvTranspose";
  const bool constant_weight = ctx.is_weight(node.input(1));
  RuleDecision d;
  d.inputs.push_back({0, InputUse::Activation});
  if (constant_weight) d.inputs.push_back({1, InputUse::Weight, transpose ? 1 : 0});
  else d.inputs.push_back({1, InputUse::Activation});
  const std::string& bias = node.input(2);
  if (!bias.empty() && constant_weight && ctx.is_weight(bias) && ctx.is_float(bias))
    d.inputs.push_back({2, InputUse::Bias, -1, 0, 1});
  d.outputs.push_back({0, OutputUse::Own});
  if (!transpose && constant_weight) d.integer = IntegerForm::ConvInteger;
  return d;
}

}  // namespace ptq::rewrite
