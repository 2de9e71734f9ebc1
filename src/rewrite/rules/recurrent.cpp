// SPDX-License-Identifier: Apache-2.0
// Rule for LSTM, GRU and RNN.
//   W [num_directions, G·hidden, input], R [num_directions, G·hidden, hidden] (G = 4 LSTM, 3 GRU, 1 RNN):
//   weights per channel along axis 1, one scale per gate row (a bidirectional layer's two directions
//   share each row's scale: DequantizeLinear takes one 1-D scale along one axis), in static and dynamic
//   mode. They are most of a recurrent layer's bytes.
// X, the states and the outputs stay float: ONNX Runtime has no Q/DQ fusion for recurrent ops, so
// quantizing them would only add error; the biases B and peepholes P stay float (small, and no input
// scale to derive an int32 scale from).
// Dynamic "integer" format: an LSTM with constant 3-D W and R (layout 0: the contrib op has no layout
// attribute) becomes ONNX Runtime's com.microsoft DynamicQuantizeLSTM.
#include "rules.h"

namespace ptq::rewrite {

RuleDecision rule_recurrent(const Node& node, const RuleContext& ctx) {
  for (size_t i : {0u, 1u, 2u})
    if (std::string why = require_float_input(node, i, ctx); !why.empty()) return skip_node(why);
  RuleDecision d;
  for (size_t i : {1u, 2u})
    if (ctx.is_weight(node.input(i)) && ctx.rank(node.input(i)) == 3) d.inputs.push_back({i, InputUse::Weight, 1});
  if (d.inputs.empty()) return skip_node("W and R are not constant 3-D weights");
  if (node.op_type == "LSTM" && d.inputs.size() == 2 && node.attr_int("layout", 0) == 0)
    d.integer = IntegerForm::DynamicQuantizeLSTM;
  return d;
}

}  // namespace ptq::rewrite
