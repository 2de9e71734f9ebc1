// SPDX-License-Identifier: Apache-2.0
// Rule for Mul. A channel scale — Y = X · c with c a constant of K values (K > 1) along X's last axis
// read only as the activation input A of MatMul/Gemm nodes, or along axis 1 ([K, 1, ..]) read only as
// Conv inputs — is the smoothing step in front of a matrix product (SmoothQuant's inserted Mul, RMSNorm's
// γ, channel equalization before a convolution): Y, what the product reads, gets its own parameters;
// X is not requested (its channels may differ by orders of magnitude, which is why the scale is there:
// a grid over X would round away the small channels) and c stays float. The Mul runs in float. The
// restoring Mul of channel equalization (its output in options.kept_float.tensors: X = (X / s) · s)
// quantizes only X / s, what the equalized convolution writes. Any other Mul: own_scales.
#include "rules.h"

namespace ptq::rewrite {
namespace {

// Whether c (K > 1 values) scales the channels that every reader of Y multiplies by a weight: along the
// last axis (c of shape [.., K]) for MatMul/Gemm reading Y as A; along axis 1 (c of shape [K, 1, ..])
// for Conv reading Y as X.
bool feeds_products_only(const Graph& g, const std::string& y, const Tensor& c) {
  const std::vector<int> readers = g.consumers(y);
  if (readers.empty() || g.is_graph_output(y)) return false;
  const bool last_axis = c.dim(c.rank() - 1) == c.numel(), first_axis = c.rank() >= 2 && c.dim(0) == c.numel();
  for (int r : readers) {
    const Node& n = g.nodes[static_cast<size_t>(r)];
    const bool product = n.op_type == "MatMul" || n.op_type == "Gemm";
    if (!n.domain.empty() || n.input(0) != y || n.input(1) == y || !(product ? last_axis : n.op_type == "Conv" && first_axis)) return false;
  }
  return true;
}

}  // namespace

RuleDecision rule_mul(const Node& node, const RuleContext& ctx) {
  if (node.inputs.size() == 2 && !node.outputs.empty() && ctx.is_float(node.outputs[0])) {
    for (size_t c : {0u, 1u}) {
      const Tensor* scale = ctx.graph.weight(node.inputs[c]);
      const std::string& x = node.inputs[1 - c];
      if (!scale || scale->dtype() != DType::Float32 || scale->numel() < 2 || ctx.is_weight(x) || !ctx.is_float(x) ||
          !feeds_products_only(ctx.graph, node.outputs[0], *scale))
        continue;
      RuleDecision d;
      d.outputs.push_back({0, OutputUse::Own});
      return d;
    }
  }
  if (node.inputs.size() == 2 && !node.outputs.empty() && ctx.options.kept_float.tensors.count(node.outputs[0])) {
    const size_t c = ctx.is_weight(node.inputs[1]) ? 1 : 0;  // the restoring scale; the other input is X / s
    if (ctx.is_weight(node.inputs[c]) && !ctx.is_weight(node.inputs[1 - c]) && ctx.is_float(node.inputs[1 - c])) {
      RuleDecision d;
      d.inputs.push_back({1 - c, InputUse::Activation});
      return d;
    }
  }
  return rule_own_scales(node, ctx);
}

}  // namespace ptq::rewrite
