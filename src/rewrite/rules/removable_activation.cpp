// SPDX-License-Identifier: Apache-2.0
// Rule for Relu and Clip (ONNX Runtime's QDQRemovableActivation). With asymmetric activations a
// quantizer that clamps to [lo, hi] ⊇ {0} already computes Relu (range [0, hi]: codes below the zero
// point are never produced) and Clip(min ≤ 0 ≤ max) (range [min, max]), so the planner removes the
// node and quantizes its producer's output with the Relu/Clip output's calibrated range — when that
// producer's output is quantized with its own parameters and read by this node only. Otherwise
// (symmetric activations, --keep-removable-activations, a Clip range without 0, bounds not known
// offline) the node stays, with its input and output quantized.
#include <cmath>
#include <limits>

#include "rules.h"

namespace ptq::rewrite {
namespace {

// Clip bounds: attributes min/max before opset 11, optional constant inputs 1/2 after.
bool clip_bounds(const Node& node, const RuleContext& ctx, float& lo, float& hi) {
  lo = -std::numeric_limits<float>::infinity();
  hi = std::numeric_limits<float>::infinity();
  if (node.opset < 11) {
    lo = node.attr_float("min", lo);
    hi = node.attr_float("max", hi);
    return true;
  }
  for (size_t i : {1u, 2u}) {
    const std::string& name = node.input(i);
    if (name.empty()) continue;
    const Tensor* t = ctx.graph.weight(name);
    if (!t || t->numel() != 1 || t->dtype() != DType::Float32) return false;
    (i == 1 ? lo : hi) = t->data<float>()[0];
  }
  return true;
}

}  // namespace

RuleDecision rule_removable_activation(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_input(node, 0, ctx); !why.empty()) return skip_node(why);
  if (std::string why = require_float_outputs(node, ctx); !why.empty()) return skip_node(why);
  RuleDecision d;
  d.inputs.push_back({0, InputUse::Activation});
  d.outputs.push_back({0, OutputUse::Own});
  float lo = 0.0f, hi = 0.0f;
  d.removable = node.op_type == "Relu" || (clip_bounds(node, ctx, lo, hi) && lo <= 0.0f && hi >= 0.0f);
  return d;
}

}  // namespace ptq::rewrite
