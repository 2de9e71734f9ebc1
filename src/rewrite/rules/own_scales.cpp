// SPDX-License-Identifier: Apache-2.0
// Rule for ops whose inputs and output each get their own parameters (ONNX Runtime's generic QDQ
// operator): Add, Mul (QLinearAdd/QLinearMul keep one scale per input), Concat (QLinearConcat
// rescales its inputs), Where (condition input is bool and stays as is), AveragePool,
// GlobalAveragePool, Sigmoid, Softmax, LeakyRelu, HardSigmoid, HardSwish. Softmax, Sigmoid and
// HardSigmoid outputs get the fixed range [0, 1] instead of a calibrated one.
// Every float32 input is an activation (a constant one is stored quantized, per tensor, with the
// activation type, so both operands of QLinearAdd have the same type); non-float inputs are left alone.
#include "rules.h"

namespace ptq::rewrite {

RuleDecision rule_own_scales(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_outputs(node, ctx); !why.empty()) return skip_node(why);
  RuleDecision d;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const std::string& name = node.inputs[i];
    if (name.empty()) continue;
    DType t = ctx.dtype(name);
    if (t == DType::Undefined) return skip_node("input '" + name + "' has an unknown type");
    if (t == DType::Float32) d.inputs.push_back({i, InputUse::Activation});
  }
  if (d.inputs.empty()) return skip_node("no float32 input");
  // Softmax, Sigmoid and HardSigmoid outputs lie in [0, 1] by definition. A calibrated range would
  // clip exactly the values that matter: the large probabilities (most values are near 0), or a
  // detector's confidences above the highest one the calibration images happened to produce.
  const bool probabilities = node.op_type == "Softmax" || node.op_type == "Sigmoid" || node.op_type == "HardSigmoid";
  for (size_t o = 0; o < node.outputs.size(); ++o)
    if (!node.outputs[o].empty()) d.outputs.push_back({o, OutputUse::Own, 0, probabilities, Range{0.0f, 1.0f}});
  return d;
}

}  // namespace ptq::rewrite
