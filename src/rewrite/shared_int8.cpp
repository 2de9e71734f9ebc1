// SPDX-License-Identifier: Apache-2.0
// Shared int8 activations as uint8 (QuantOptions::unsigned_shared_int8, the ort-cpu target).
// Matches: an int8 per-tensor activation of the model's graph (bodies keep int8) read by two or more nodes (a graph output
// counts as a reader) or constant (an initializer read through a lone DQ, e.g. an Add's bias), and every
// tensor sharing its parameters (data movement around it).
// Produces: the same parameters as uint8, zero point z + 128, so every value is unchanged:
//   s · (q − z) with q ∈ [−128, 127]  =  s · ((q + 128) − (z + 128)) with q + 128 ∈ [0, 255].
// Why: ONNX Runtime's CPU provider, without fast int8×int8 kernels, converts each int8 Q→DQ pair to
// uint8 (QDQS8ToU8Transformer) but only when the QuantizeLinear has exactly one DequantizeLinear reader;
// before that it gives every reader of a DQ its own copy (EnsureUniqueDQForNodeUnit), so a shared
// tensor's Q keeps several readers and stays int8, and the node units around it (uint8 on one side,
// int8 on the other) stay float. A lone int8 DQ of a constant is converted only when its values do not
// fit in 7 bits (ConvertS8WeightToU8), so an Add/Mul reading one stays float too. One Q→DQ pair per reader does not help: a node unit needs exactly one
// Q on its output, and ONNX Runtime merges identical Q nodes anyway (CommonSubexpressionElimination).
#include "rewrite_internal.h"

namespace ptq::rewrite {

void unsign_shared_int8(const Graph& g, const QuantPlan& plan, std::map<std::string, QParams>& params) {
  using Kind = TensorPlan::Kind;
  auto root_of = [&](std::string t) {
    while (!plan.tensors.at(t).params_from.empty()) t = plan.tensors.at(t).params_from;
    return t;
  };
  std::set<std::string> roots;
  for (const auto& [name, t] : plan.tensors) {
    if (t.kind != Kind::Activation) continue;
    auto p = params.find(t.table_key());
    if (p == params.end() || p->second.type != QType::Int8 || p->second.per_channel()) continue;
    size_t readers = g.is_graph_output(name) ? 1 : 0;
    for (int c : g.consumers(name)) readers += plan.nodes[static_cast<size_t>(c)].removed ? 0 : 1;
    if (readers > 1 || t.constant) roots.insert(root_of(name));
  }
  for (const auto& [name, t] : plan.tensors) {
    if (t.kind != Kind::Activation || !roots.count(root_of(name))) continue;
    QParams& p = params.at(t.table_key());
    if (p.type != QType::Int8) continue;
    p.type = QType::UInt8;
    for (int32_t& z : p.zero_point) z += 128;
  }
}

}  // namespace ptq::rewrite
