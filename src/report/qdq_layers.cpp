// SPDX-License-Identifier: Apache-2.0
// qdq_layers (html_report.h): the precision of each node of an already-quantized Q/DQ model, read from
// the model itself (what `eval --html` shows, with no plan at hand). An input produced by a
// DequantizeLinear is quantized: a weight when the DequantizeLinear reads a constant (its type is the
// constant's), an activation otherwise (its type is the QuantizeLinear's zero point's, uint8 without one).
// int32 constants (biases) are left out. Nodes that read no DequantizeLinear output are float.
#include <map>
#include <set>

#include "ptq/report/html_report.h"

namespace ptq::report {
namespace {

bool is_qdq(const Node& n) { return n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear"; }

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : "+") + x;
  return out;
}

}  // namespace

std::vector<HtmlLayer> qdq_layers(const Graph& graph) {
  std::map<std::string, const Node*> producer;
  for (const auto& n : graph.nodes)
    for (const auto& o : n.outputs) producer[o] = &n;
  // The stored type of a quantized value (the input of a DequantizeLinear).
  auto stored_type = [&](const std::string& x) -> std::string {
    if (const Tensor* w = graph.weight(x)) return dtype_name(w->dtype());
    auto q = producer.find(x);
    if (q == producer.end() || q->second->op_type != "QuantizeLinear") return "?";
    if (q->second->inputs.size() > 2 && !q->second->inputs[2].empty())
      if (const Tensor* zp = graph.weight(q->second->inputs[2])) return dtype_name(zp->dtype());
    return "uint8";
  };
  std::vector<HtmlLayer> out;
  for (const auto& n : graph.nodes) {
    if (is_qdq(n)) continue;
    std::set<std::string> acts, weights;
    for (const auto& in : n.inputs) {
      auto p = producer.find(in);
      if (in.empty() || p == producer.end() || p->second->op_type != "DequantizeLinear" || p->second->inputs.empty()) continue;
      const std::string& x = p->second->inputs[0];
      const std::string type = stored_type(x);
      if (type == "int32") continue;  // a bias (scale s_x · s_w): not a precision of its own
      (graph.weight(x) ? weights : acts).insert(type);
    }
    HtmlLayer l{n.name.empty() ? n.op_type + " writing " + (n.outputs.empty() ? "" : n.outputs[0]) : n.name, n.op_type, "float", ""};
    if (acts.empty() && weights.empty()) {
      l.why = "no DequantizeLinear feeds it";
    } else {
      l.precision = (acts.empty() ? "float" : join(acts)) + " / " + (weights.empty() ? "-" : join(weights));
      l.why = "inputs from DequantizeLinear";
    }
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace ptq::report
