// SPDX-License-Identifier: Apache-2.0
// Rule for Mul. A channel scale — Y = X · c with c a constant of K values along X's last axis (K > 1),
// read only as the activation input A of MatMul/Gemm nodes — is the smoothing step in front of a matrix
// product (SmoothQuant's inserted Mul, RMSNorm's γ): Y, what the product reads, gets its own parameters;
// X is not requested (its channels may differ by orders of magnitude, which is why the scale is there:
// a grid over X would round away the small channels) and c stays float. The Mul runs in float. Any
// other Mul: own_scales.
#include "rules.h"

namespace ptq::rewrite {
namespace {

bool feeds_products_only(const Graph& g, const std::string& y) {
  const std::vector<int> readers = g.consumers(y);
  if (readers.empty() || g.is_graph_output(y)) return false;
  for (int r : readers) {
    const Node& n = g.nodes[static_cast<size_t>(r)];
    if (!n.domain.empty() || (n.op_type != "MatMul" && n.op_type != "Gemm") || n.input(0) != y || n.input(1) == y) return false;
  }
  return true;
}

}  // namespace

RuleDecision rule_mul(const Node& node, const RuleContext& ctx) {
  if (node.inputs.size() == 2 && !node.outputs.empty() && ctx.is_float(node.outputs[0])) {
    for (size_t c : {0u, 1u}) {
      const Tensor* scale = ctx.graph.weight(node.inputs[c]);
      const std::string& x = node.inputs[1 - c];
      if (!scale || scale->dtype() != DType::Float32 || scale->numel() < 2 || scale->dim(scale->rank() - 1) != scale->numel() ||
          ctx.is_weight(x) || !ctx.is_float(x) || !feeds_products_only(ctx.graph, node.outputs[0]))
        continue;
      RuleDecision d;
      d.outputs.push_back({0, OutputUse::Own});
      return d;
    }
  }
  return rule_own_scales(node, ctx);
}

}  // namespace ptq::rewrite
