// SPDX-License-Identifier: Apache-2.0
// Erf-GELU: GELU(x) = x · 0.5 · (1 + Erf(x / √2)), as exporters write it (PyTorch before opset 20):
//   u = Div(x, √2)  or  Mul(x, 1/√2)
//   e = Erf(u);  a = Add(e, 1)
//   y = Mul(Mul(x, a), c)        (PyTorch: c = 0.5)       or
//   y = Mul(Mul(x, c), a)        (x · 0.5 first)
// c may be any float constant (scalar or a per-channel vector: SmoothQuant folds its 1/s into it).
// Constants √2, 1/√2 and 1 are matched within kConstantTol relative. Members: those 5 nodes; boundary
// input x, output y. Interior tensors must have no other reader and not be graph outputs.
#include <cmath>

#include "patterns.h"

namespace ptq::rewrite {
namespace {

constexpr float kConstantTol = 1e-3f;  // relative

bool near(float v, float want) { return std::fabs(v - want) <= kConstantTol * std::fabs(want); }

bool is_op(const Graph& g, int i, const char* op) {
  return i >= 0 && g.nodes[static_cast<size_t>(i)].domain.empty() && g.nodes[static_cast<size_t>(i)].op_type == op;
}

// x when node `i` computes x / √2 (Div by √2 or Mul by 1/√2, the constant on either side for Mul).
std::string scaled_input(const Graph& g, int i) {
  if (i < 0) return "";
  const Node& n = g.nodes[static_cast<size_t>(i)];
  if (n.inputs.size() != 2) return "";
  float c = 0.0f;
  if (is_op(g, i, "Div")) return scalar_constant(g, n.inputs[1], c) && near(c, std::sqrt(2.0f)) ? n.inputs[0] : "";
  if (!is_op(g, i, "Mul")) return "";
  for (size_t k : {0u, 1u})
    if (scalar_constant(g, n.inputs[k], c) && near(c, std::sqrt(0.5f))) return n.inputs[1 - k];
  return "";
}

bool float_constant(const Graph& g, const std::string& name) {
  const Tensor* t = g.weight(name);
  return t && t->dtype() == DType::Float32;
}

}  // namespace

bool match_erf_gelu(const Graph& g, int anchor, PatternMatch& m) {
  const Node& erf = g.nodes[static_cast<size_t>(anchor)];
  const int div = g.producer(erf.input(0));
  const std::string x = scaled_input(g, div);
  if (x.empty() || g.is_weight(x)) return false;
  const int add = single_reader(g, erf.outputs[0]);
  float one = 0.0f;
  if (!is_op(g, add, "Add") || !scalar_constant(g, other_input(g.nodes[static_cast<size_t>(add)], erf.outputs[0]), one) ||
      !near(one, 1.0f))
    return false;
  const std::string& a = g.nodes[static_cast<size_t>(add)].outputs[0];
  const int mul = single_reader(g, a);
  if (!is_op(g, mul, "Mul")) return false;
  const std::string other = other_input(g.nodes[static_cast<size_t>(mul)], a);
  const std::string& prod = g.nodes[static_cast<size_t>(mul)].outputs[0];
  m = PatternMatch{};
  m.inputs = {x};
  if (other == x) {  // y = Mul(Mul(x, a), c)
    const int scale = single_reader(g, prod);
    if (!is_op(g, scale, "Mul") || !float_constant(g, other_input(g.nodes[static_cast<size_t>(scale)], prod))) return false;
    m.nodes = {div, anchor, add, mul, scale};
    m.output = g.nodes[static_cast<size_t>(scale)].outputs[0];
  } else {  // y = Mul(Mul(x, c), a)
    const int half = g.producer(other);
    if (!is_op(g, half, "Mul") || single_reader(g, other) != mul) return false;
    const std::string c = other_input(g.nodes[static_cast<size_t>(half)], x);
    if (c.empty() || !float_constant(g, c)) return false;
    m.nodes = {div, half, anchor, add, mul};
    m.output = prod;
  }
  return closed_group(g, m);
}

}  // namespace ptq::rewrite
