// SPDX-License-Identifier: Apache-2.0
// analyze_data_flow (see data_flow.h): one pass in topological order.
#include "ptq/ir/data_flow.h"

namespace ptq {
namespace {

// Ops whose outputs depend on the input's shape only.
bool shape_only(const Node& n) { return n.domain.empty() && (n.op_type == "Shape" || n.op_type == "Size"); }

// Float when known to be; a tensor of unknown type counts as float (the conservative side: it stays a
// compute node).
bool is_float(const Graph& g, const std::string& name) {
  if (const Tensor* w = g.weight(name)) return dtype_is_float(w->dtype());
  const ValueInfo* vi = g.info(name);
  return !vi || vi->dtype == DType::Undefined || dtype_is_float(vi->dtype);
}

}  // namespace

DataFlow analyze_data_flow(const Graph& g) {
  DataFlow f;
  f.compute.assign(g.nodes.size(), false);
  for (const auto& in : g.inputs) f.data.insert(in.name);
  for (const auto& name : g.outer_refs) f.data.insert(name);  // a subgraph's outer values: unknown, so data
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    bool reads_data = false, float_data = false;
    auto visit_input = [&](const std::string& name) {
      if (name.empty() || !f.depends_on_data(name)) return;
      reads_data = true;
      float_data |= is_float(g, name);
    };
    for (const auto& in : n.inputs) visit_input(in);
    for (const auto& in : n.implicit_inputs) visit_input(in);
    if (!reads_data || shape_only(n)) continue;
    for (const auto& out : n.outputs) {
      if (out.empty()) continue;
      f.data.insert(out);
      float_data |= is_float(g, out);
    }
    f.compute[i] = float_data;
  }
  return f;
}

bool moves_data(const Node& node) {
  static const char* const ops[] = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity"};
  for (const char* op : ops)
    if (node.domain.empty() && node.op_type == op) return true;
  return false;
}

}  // namespace ptq
