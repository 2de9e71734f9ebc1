// SPDX-License-Identifier: Apache-2.0
// Rule for Div. Y = A / B with a divisor that does not depend on the data (a constant, or a value made of
// constants and shapes, such as the 1/√d of attention scores computed from the head size): A is an
// activation and Y has its own parameters, so the integer MatMul before it and the integer op after it
// (Softmax, Add) keep their Q/DQ; B stays float (exact). ONNX Runtime runs the Div itself in float. A
// divisor that depends on the data is left alone (the node stays float): its quantization error is
// relative to its range, so divisors near 0 would turn a rounding step into an arbitrarily large error.
#include "rules.h"

namespace ptq::rewrite {

RuleDecision rule_div(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_input(node, 0, ctx); !why.empty()) return skip_node(why);
  if (std::string why = require_float_outputs(node, ctx); !why.empty()) return skip_node(why);
  if (!node.has_input(1) || ctx.depends_on_data(node.input(1)))
    return skip_node("the divisor depends on the data (a quantized divisor near 0 has an unbounded relative error)");
  RuleDecision d;
  d.inputs.push_back({0, InputUse::Activation});
  d.outputs.push_back({0, OutputUse::Own});
  return d;
}

}  // namespace ptq::rewrite
