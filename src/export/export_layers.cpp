// SPDX-License-Identifier: Apache-2.0
// export_layers.h: planned tensors resolved to their calibration entries, and the quantized Conv/Gemm
// layers of the model graph.
#include "export_layers.h"

#include <set>

namespace ptq::table_export {
namespace {

using Kind = rewrite::TensorPlan::Kind;

// Output channels of a Conv/Gemm weight: Conv [M, C/g, k...] dim 0; Gemm B [K, N] (transB: [N, K]).
int64_t weight_out_channels(const Node& node, const Tensor* w) {
  if (!w || w->shape().empty()) return 1;
  const size_t axis = node.op_type == "Gemm" && node.attr_int("transB", 0) == 0 ? 1 : 0;
  return axis < w->shape().size() ? w->dim(static_cast<int>(axis)) : 1;
}

const std::set<std::string> kLayerOps = {"Conv", "Gemm"};

}  // namespace

const calib::TensorCalib* find_entry(const ExportInput& input, const std::string& tensor) {
  std::string name = tensor;
  for (size_t hops = 0; hops <= input.plan.tensors.size(); ++hops) {
    auto it = input.plan.tensors.find(name);
    if (it == input.plan.tensors.end()) return nullptr;
    if (it->second.params_from.empty()) {
      auto e = input.table.tensors.find(it->second.table_key());
      return e == input.table.tensors.end() ? nullptr : &e->second;
    }
    name = it->second.params_from;
  }
  return nullptr;  // a cycle, which the planner never makes
}

std::vector<ExportTensor> quantized_activations(const ExportInput& input) {
  std::vector<ExportTensor> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& name) {
    auto it = input.plan.tensors.find(name);
    if (it == input.plan.tensors.end() || it->second.kind != Kind::Activation || !seen.insert(name).second) return;
    out.push_back(ExportTensor{name, find_entry(input, name)});
  };
  for (const auto& in : input.graph.inputs) add(in.name);
  for (const auto& node : input.graph.nodes)
    for (const auto& o : node.outputs) add(o);
  return out;
}

std::vector<ExportLayer> quantized_layers(const ExportInput& input) {
  std::vector<ExportLayer> out;
  for (size_t i = 0; i < input.graph.nodes.size(); ++i) {
    const Node& node = input.graph.nodes[i];
    if (!kLayerOps.count(node.op_type) || node.inputs.size() < 2 || !input.plan.nodes[i].quantized) continue;
    auto w = input.plan.tensors.find(node.inputs[1]);
    if (w == input.plan.tensors.end() || w->second.kind != Kind::Weight) continue;
    ExportLayer l;
    l.name = node.name.empty() && !node.outputs.empty() ? node.outputs[0] : node.name;
    l.op_type = node.op_type;
    l.input_name = node.inputs[0];
    l.weight_name = node.inputs[1];
    l.output_name = node.outputs.empty() ? "" : node.outputs[0];
    auto renamed = input.plan.renamed.find(l.output_name);
    if (renamed != input.plan.renamed.end()) l.output_name = renamed->second;
    l.input = find_entry(input, l.input_name);
    l.weight = find_entry(input, l.weight_name);
    l.output = find_entry(input, l.output_name);
    l.out_channels = weight_out_channels(node, input.graph.weight(l.weight_name));
    l.groups = node.op_type == "Conv" ? node.attr_int("group", 1) : 1;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<float> weight_absmax(const ExportLayer& layer) {
  std::vector<float> m;
  if (!layer.weight) return m;
  for (const Range& r : layer.weight->range) m.push_back(range_absmax(r));
  if (m.size() == 1 && layer.out_channels > 1) m.assign(static_cast<size_t>(layer.out_channels), m[0]);
  return m;
}

}  // namespace ptq::table_export
