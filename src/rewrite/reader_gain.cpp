// SPDX-License-Identifier: Apache-2.0
// assign_reader_gains: what kl and mse weigh a calibrated activation's squared error by (calib/reader_gain.h).
// A calibrated activation is the root of a group (the tensors sharing its parameters through data
// movement, params_from); its readers are the nodes reading any member of the group, except a node
// writing a member itself (Transpose, Reshape, MaxPool, ...: what it passes on is read further down).
// Each reader adds the gain of the input slot it reads the tensor in (reader_term), the distinct ones
// kept; a reader this table does not name, and a graph output, count as linear (k = 0):
//   Pow(x, p), p a constant scalar       k = p - 1      (the exponent is input 1; x^p: gain p·x^(p-1))
//   Mul(x, x)                            k = 1
//   Sqrt                                 k = -1/2
//   Log                                  k = -1
//   Reciprocal; Div, input 1             k = -2
//   Exp                                  exponential
// Sigmoid, Tanh, Softmax and the like have bounded derivatives and count as linear (Softmax inputs have
// their own rule, SoftmaxRows).
#include <cmath>
#include <map>

#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

struct Term {
  bool exponential = false;
  double power = 0.0;
};

// Readers whose gain depends on the op and the input slot only (slot -1: any).
struct ReaderRow {
  const char* op;
  int slot;
  double power;
  bool exponential;
};
// clang-format off
constexpr ReaderRow kReaders[] = {
    {"Exp",        -1,  0.0, true},
    {"Log",        -1, -1.0, false},
    {"Sqrt",       -1, -0.5, false},
    {"Reciprocal", -1, -2.0, false},
    {"Div",         1, -2.0, false},  // the denominator of x/y: -x/y^2
};
// clang-format on

// The gain of node n reading tensor `t` (in some input slot).
Term reader_term(const Graph& g, const Node& n, const std::string& t) {
  Term term;
  if (!n.domain.empty()) return term;
  for (const auto& row : kReaders)
    if (n.op_type == row.op && (row.slot < 0 || n.input(static_cast<size_t>(row.slot)) == t))
      return Term{row.exponential, row.power};
  if (n.op_type == "Mul" && n.input(0) == t && n.input(1) == t) term.power = 1.0;  // x·x
  if (n.op_type == "Pow" && n.input(0) == t && n.has_input(1)) {                   // x^p, p a constant scalar
    const Tensor* p = g.weight(n.input(1));
    if (p && p->numel() == 1 && dtype_is_float(p->dtype()))
      term.power = static_cast<double>(cast_tensor(*p, DType::Float32).data<float>()[0]) - 1.0;
  }
  return term;
}

}  // namespace

void assign_reader_gains(const Graph& g, QuantPlan& plan) {
  using Kind = TensorPlan::Kind;
  auto root = [&](std::string r) {
    for (auto it = plan.tensors.find(r); it != plan.tensors.end() && !it->second.params_from.empty();
         it = plan.tensors.find(r))
      r = it->second.params_from;
    return r;
  };
  std::map<std::string, std::string> root_of;  // every member of an activation group
  for (const auto& [name, t] : plan.tensors)
    if (t.kind == Kind::Activation) root_of[name] = root(name);
  for (const auto& [member, r] : root_of) {
    TensorPlan& target = plan.tensors.at(r);
    if (target.constant || target.fixed) continue;
    for (int c : g.consumers(member)) {
      const Node& n = g.nodes[static_cast<size_t>(c)];
      bool passes_on = false;
      for (const auto& o : n.outputs) {
        auto it = root_of.find(o);
        passes_on |= it != root_of.end() && it->second == r;
      }
      if (passes_on) continue;
      const Term term = reader_term(g, n, member);
      if (term.exponential)
        target.gain.exponential = true;
      else
        target.gain.add_power(term.power);
    }
    if (g.is_graph_output(member)) target.gain.add_power(0.0);  // the model's user reads it as it is
  }
}

}  // namespace ptq::rewrite
