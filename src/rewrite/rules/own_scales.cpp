// SPDX-License-Identifier: Apache-2.0
// Rule for ops whose inputs and output each get their own parameters (ONNX Runtime's generic QDQ
// operator): Add, Sub, Mul (QLinearAdd/QLinearMul keep one scale per input), Concat (QLinearConcat
// rescales its inputs), Where (condition input is bool and stays as is), AveragePool,
// GlobalAveragePool, Sigmoid, Softmax, LeakyRelu, HardSigmoid, HardSwish, Gelu (opset 20; runs in float
// between DQ and Q). Softmax, Sigmoid and HardSigmoid outputs get the fixed range [0, 1] instead of a
// calibrated one (Sigmoid with QuantOptions::qnn_sigmoid_range: [0, 65535/65536]).
// Every float32 input is an activation (a constant one is stored quantized, per tensor, with the
// activation type, so both operands of QLinearAdd have the same type); non-float inputs are left alone.
// Except, staying float:
//   - a constant with a non-finite value (a -inf fill value): no finite grid holds it;
//   - a mask operand: an operand that does not depend on the data (a constant, or one made of constants
//     and shapes such as a causal mask sliced to the sequence length) of a node whose output a Softmax
//     reads (directly or through data movement). The mask stays exact, -1e4 or -inf alike, and the
//     node's quantized output, the Softmax input, takes its range from the values near each row's
//     maximum (calib::SoftmaxRows), which no mask value reaches.
#include <cmath>

#include "ptq/ir/data_flow.h"
#include "rules.h"

namespace ptq::rewrite {
namespace {

bool non_finite_constant(const Tensor* t) {
  if (!t || t->dtype() != DType::Float32) return false;
  const float* p = t->data<float>();
  for (int64_t i = 0; i < t->numel(); ++i)
    if (!std::isfinite(p[i])) return true;
  return false;
}

// Whether a Softmax reads `tensor`, directly or through data movement.
bool feeds_softmax(const Graph& g, const std::string& tensor, int depth = 0) {
  if (depth > 4) return false;
  for (int r : g.consumers(tensor)) {
    const Node& n = g.nodes[static_cast<size_t>(r)];
    if (n.domain.empty() && n.op_type == "Softmax") return true;
    if (moves_data(n) && n.input(0) == tensor && feeds_softmax(g, n.outputs[0], depth + 1)) return true;
  }
  return false;
}

// The rows a Softmax normalizes: along `axis` from opset 13 on, before that the block of dims from `axis`.
calib::SoftmaxRows softmax_rows(const Node& node) {
  calib::SoftmaxRows rows;
  rows.on = true;
  rows.axis = static_cast<int>(node.attr_int("axis", node.opset >= 13 ? -1 : 1));
  rows.flatten = node.opset < 13;
  return rows;
}

// The top of a probability output's fixed range: 1, or for Sigmoid with qnn_sigmoid_range 65535/65536
// (uint16 scale (65535/65536)/65535 = 2^-16 exactly).
float probability_max(const Node& node, const RuleContext& ctx) {
  return node.op_type == "Sigmoid" && ctx.options.qnn_sigmoid_range ? 65535.0f / 65536.0f : 1.0f;
}

}  // namespace

RuleDecision rule_own_scales(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_outputs(node, ctx); !why.empty()) return skip_node(why);
  const bool masked = !node.outputs.empty() && feeds_softmax(ctx.graph, node.outputs[0]);
  RuleDecision d;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const std::string& name = node.inputs[i];
    if (name.empty()) continue;
    DType t = ctx.dtype(name);
    if (t == DType::Undefined) return skip_node("input '" + name + "' has an unknown type");
    if (t != DType::Float32 || non_finite_constant(ctx.graph.weight(name))) continue;
    if (masked && node.op_type != "Concat" && !ctx.depends_on_data(name)) continue;
    InputDecision in{i, InputUse::Activation};
    if (node.op_type == "Softmax" && i == 0) in.softmax = softmax_rows(node);
    d.inputs.push_back(in);
  }
  if (d.inputs.empty()) return skip_node("no float32 input");
  // Softmax, Sigmoid and HardSigmoid outputs lie in [0, 1] by definition. A calibrated range would
  // clip exactly the values that matter: the large probabilities (most values are near 0), or a
  // detector's confidences above the highest one the calibration images happened to produce.
  const bool probabilities = node.op_type == "Softmax" || node.op_type == "Sigmoid" || node.op_type == "HardSigmoid";
  for (size_t o = 0; o < node.outputs.size(); ++o)
    if (!node.outputs[o].empty()) d.outputs.push_back({o, OutputUse::Own, 0, probabilities, Range{0.0f, probability_max(node, ctx)}});
  return d;
}

}  // namespace ptq::rewrite
