// SPDX-License-Identifier: Apache-2.0
// LayerNorm as exporters before opset 17 write it (BERT-style ONNX, ONNX Runtime issue #16219: Q/DQ on
// its Pow/Sqrt/Div "gave a completely useless model"):
//   m = ReduceMean(x);  d = Sub(x, m);  p = Pow(d, 2);  v = ReduceMean(p);  e = Add(v, ε);
//   s = Sqrt(e);  n = Div(d, s);  then optionally  Mul(n, γ)  and  Add(·, β)  with constant γ, β.
// Anchor: the first ReduceMean. Members: those nodes; boundary input x; output: the last of n, the Mul,
// the Add. The squared deviations and the statistics stay float.
#include "patterns.h"

namespace ptq::rewrite {
namespace {

int reader_op(const Graph& g, const std::string& tensor, const char* op) {
  for (int r : g.consumers(tensor))
    if (g.nodes[static_cast<size_t>(r)].domain.empty() && g.nodes[static_cast<size_t>(r)].op_type == op) return r;
  return -1;
}

// The single reader of `tensor` when it is `op` with a constant other operand, else -1.
int constant_step(const Graph& g, const std::string& tensor, const char* op) {
  const int r = single_reader(g, tensor);
  if (r < 0 || g.nodes[static_cast<size_t>(r)].op_type != op) return -1;
  const std::string c = other_input(g.nodes[static_cast<size_t>(r)], tensor);
  return !c.empty() && g.is_weight(c) ? r : -1;
}

}  // namespace

bool match_layer_norm(const Graph& g, int anchor, PatternMatch& m) {
  const Node& mean = g.nodes[static_cast<size_t>(anchor)];
  const std::string x = mean.input(0);
  if (x.empty() || g.is_weight(x)) return false;
  const int sub = reader_op(g, mean.outputs[0], "Sub");
  if (sub < 0 || g.nodes[static_cast<size_t>(sub)].input(0) != x) return false;
  const std::string& d = g.nodes[static_cast<size_t>(sub)].outputs[0];
  const int pow = reader_op(g, d, "Pow"), div = reader_op(g, d, "Div");
  float two = 0.0f;
  if (pow < 0 || div < 0 || !scalar_constant(g, g.nodes[static_cast<size_t>(pow)].input(1), two) || two != 2.0f) return false;
  const int var = single_reader(g, g.nodes[static_cast<size_t>(pow)].outputs[0]);
  if (var < 0 || g.nodes[static_cast<size_t>(var)].op_type != "ReduceMean") return false;
  const int eps = constant_step(g, g.nodes[static_cast<size_t>(var)].outputs[0], "Add");
  if (eps < 0) return false;
  const int sqrt = single_reader(g, g.nodes[static_cast<size_t>(eps)].outputs[0]);
  if (sqrt < 0 || g.nodes[static_cast<size_t>(sqrt)].op_type != "Sqrt" || single_reader(g, g.nodes[static_cast<size_t>(sqrt)].outputs[0]) != div)
    return false;
  if (g.nodes[static_cast<size_t>(div)].input(0) != d) return false;
  m = PatternMatch{};
  m.nodes = {anchor, sub, pow, var, eps, sqrt, div};
  m.inputs = {x};
  m.output = g.nodes[static_cast<size_t>(div)].outputs[0];
  for (const char* op : {"Mul", "Add"}) {
    const int step = constant_step(g, m.output, op);
    if (step < 0) continue;
    m.nodes.push_back(step);
    m.output = g.nodes[static_cast<size_t>(step)].outputs[0];
  }
  return closed_group(g, m);
}

}  // namespace ptq::rewrite
