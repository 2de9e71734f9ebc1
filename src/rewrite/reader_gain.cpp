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
//   Softmax, LogSoftmax, Hardmax,        ranked (the top is kept: logits)
//   ArgMax, TopK (input 0)
// Sigmoid, Tanh and the like have bounded derivatives and count as linear. A reader that moves data
// without belonging to the group (a Reshape into a Softmax input, which has its own parameters,
// SoftmaxRows) passes on the gains of its own readers.
#include <cmath>
#include <map>

#include "ptq/ir/data_flow.h"
#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

struct Term {
  bool exponential = false;
  bool ranked = false;
  double power = 0.0;
};

// Readers whose gain depends on the op and the input slot only (slot -1: any).
struct ReaderRow {
  const char* op;
  int slot;
  double power;
  bool exponential;
  bool ranked;
};
// clang-format off
constexpr ReaderRow kReaders[] = {
    {"Exp",        -1,  0.0, true,  false},
    {"Log",        -1, -1.0, false, false},
    {"Sqrt",       -1, -0.5, false, false},
    {"Reciprocal", -1, -2.0, false, false},
    {"Div",         1, -2.0, false, false},  // the denominator of x/y: -x/y^2
    {"Softmax",    -1,  0.0, false, true},
    {"LogSoftmax", -1,  0.0, false, true},
    {"Hardmax",    -1,  0.0, false, true},
    {"ArgMax",     -1,  0.0, false, true},
    {"TopK",        0,  0.0, false, true},
};
// clang-format on

// The gain of node n reading tensor `t` (in some input slot).
Term reader_term(const Graph& g, const Node& n, const std::string& t) {
  Term term;
  if (!n.domain.empty()) return term;
  for (const auto& row : kReaders)
    if (n.op_type == row.op && (row.slot < 0 || n.input(static_cast<size_t>(row.slot)) == t))
      return Term{row.exponential, row.ranked, row.power};
  if (n.op_type == "Mul" && n.input(0) == t && n.input(1) == t) term.power = 1.0;  // x·x
  if (n.op_type == "Pow" && n.input(0) == t && n.has_input(1)) {                   // x^p, p a constant scalar
    const Tensor* p = g.weight(n.input(1));
    if (p && p->numel() == 1 && dtype_is_float(p->dtype()))
      term.power = static_cast<double>(cast_tensor(*p, DType::Float32).data<float>()[0]) - 1.0;
  }
  return term;
}

// Adds the gains of the readers of `tensor` (a member of a group, or what data movement made of one)
// to `gain`; a reader writing a member of the group (`in_group`) passes the tensor on and is skipped, a
// data-movement reader outside it passes on its own readers' gains.
template <class InGroup>
void add_reader_gains(const Graph& g, const std::string& tensor, const InGroup& in_group, calib::ReaderGain& gain, int depth) {
  for (int c : g.consumers(tensor)) {
    const Node& n = g.nodes[static_cast<size_t>(c)];
    bool passes_on = false;
    for (const auto& o : n.outputs) passes_on |= in_group(o);
    if (passes_on) continue;
    if (moves_data(n) && n.outputs.size() == 1 && depth < 8) {
      add_reader_gains(g, n.outputs[0], in_group, gain, depth + 1);
      if (g.is_graph_output(n.outputs[0])) gain.add_power(0.0);
      continue;
    }
    const Term term = reader_term(g, n, tensor);
    gain.ranked |= term.ranked;
    if (term.exponential)
      gain.exponential = true;
    else
      gain.add_power(term.power);
  }
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
  for (const auto& [member, group_root] : root_of) {
    const std::string& r = group_root;  // a named reference: lambdas may not capture structured bindings (C++17)
    TensorPlan& target = plan.tensors.at(r);
    if (target.constant || target.fixed) continue;
    add_reader_gains(g, member, [&](const std::string& o) {
      auto it = root_of.find(o);
      return it != root_of.end() && it->second == r;
    }, target.gain, 0);
    if (g.is_graph_output(member)) target.gain.add_power(0.0);  // the model's user reads it as it is
  }
}

}  // namespace ptq::rewrite
