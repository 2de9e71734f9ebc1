// SPDX-License-Identifier: Apache-2.0
// The pattern table (patterns/patterns.h) and the helpers matchers share.
//   erf_gelu    x · 0.5 · (1 + Erf(x / √2)) as PyTorch exports GELU (Div, Erf, Add, Mul, Mul)
//   layer_norm  LayerNorm before opset 17: ReduceMean, Sub, Pow 2, ReduceMean, Add ε, Sqrt, Div
//               [, Mul γ][, Add β]
#include <algorithm>

#include "patterns/patterns.h"

namespace ptq::rewrite {

const std::vector<PatternEntry>& qdq_pattern_table() {
  // clang-format off
  static const std::vector<PatternEntry> table = {
      {"Erf",        "erf_gelu",   &match_erf_gelu},
      {"ReduceMean", "layer_norm", &match_layer_norm},
  };
  // clang-format on
  return table;
}

int single_reader(const Graph& g, const std::string& tensor) {
  if (g.is_graph_output(tensor)) return -1;
  const std::vector<int> readers = g.consumers(tensor);
  return readers.size() == 1 ? readers[0] : -1;
}

bool scalar_constant(const Graph& g, const std::string& tensor, float& value) {
  const Tensor* t = g.weight(tensor);
  if (!t || t->numel() != 1 || t->dtype() != DType::Float32) return false;
  value = t->data<float>()[0];
  return true;
}

std::string other_input(const Node& n, const std::string& known) {
  if (n.inputs.size() != 2) return "";
  if (n.inputs[0] == known) return n.inputs[1];
  if (n.inputs[1] == known) return n.inputs[0];
  return "";
}

bool closed_group(const Graph& g, const PatternMatch& m) {
  for (int i : m.nodes)
    for (const auto& out : g.nodes[static_cast<size_t>(i)].outputs) {
      if (out.empty() || out == m.output) continue;
      if (g.is_graph_output(out)) return false;
      for (int r : g.consumers(out))
        if (std::find(m.nodes.begin(), m.nodes.end(), r) == m.nodes.end()) return false;
    }
  return true;
}

}  // namespace ptq::rewrite
