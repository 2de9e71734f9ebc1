// SPDX-License-Identifier: Apache-2.0
// Layers of a plan, their quantizers, MAC counts and the overrides that promote them (see layers.h).
#include "ptq/search/layers.h"

#include <algorithm>
#include <set>

#include "ptq/util/error.h"

namespace ptq::search {
namespace {

using Kind = rewrite::TensorPlan::Kind;

bool is_compute(const Node& n) {
  return n.domain.empty() && (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" || n.op_type == "MatMul");
}

const rewrite::TensorPlan* planned(const rewrite::QuantPlan& plan, const std::string& tensor) {
  auto it = plan.tensors.find(tensor);
  return it == plan.tensors.end() ? nullptr : &it->second;
}

std::string root_of(const rewrite::QuantPlan& plan, const std::string& tensor) {
  std::string r = tensor;
  for (const auto* t = planned(plan, r); t && !t->params_from.empty(); t = planned(plan, r)) r = t->params_from;
  return r;
}

// The name the quantized model gives a node's output (folded Relu/Clip: their output).
std::string written_name(const rewrite::QuantPlan& plan, const std::string& tensor) {
  auto it = plan.renamed.find(tensor);
  return it == plan.renamed.end() ? tensor : it->second;
}

bool is_wide(QType t) { return t == QType::Int16 || t == QType::UInt16 || t == QType::Int32; }

int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) p *= s[i];
  return p;
}

}  // namespace

std::string fallback_name(Fallback f) { return f == Fallback::Int16 ? "int16" : "float"; }

Fallback fallback_from_name(const std::string& name) {
  if (name == "int16") return Fallback::Int16;
  if (name == "float") return Fallback::Float;
  PTQ_FAIL(UsageError, "unknown fallback '", name, "'; expected one of: int16, float");
}

std::map<std::string, std::vector<std::string>> activation_groups(const rewrite::QuantPlan& plan) {
  std::map<std::string, std::vector<std::string>> groups;
  for (const auto& [name, t] : plan.tensors)
    if (t.kind == Kind::Activation) groups[root_of(plan, name)].push_back(name);
  return groups;
}

std::vector<Layer> find_layers(const Graph& graph, const rewrite::QuantPlan& plan) {
  std::vector<Layer> layers;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const rewrite::NodePlan& np = plan.nodes[i];
    if (!np.quantized || np.removed) continue;
    const Node& n = graph.nodes[i];
    Layer l;
    l.node = static_cast<int>(i);
    l.name = n.name;
    l.op_type = n.op_type;
    l.label = !n.name.empty() ? n.name : n.op_type + " writing " + (n.outputs.empty() ? std::string("?") : n.outputs[0]);
    std::set<std::string> roots;
    for (const auto& in : n.inputs) {
      const rewrite::TensorPlan* t = in.empty() ? nullptr : planned(plan, in);
      if (!t) continue;
      if (t->kind == Kind::Activation) roots.insert(root_of(plan, in));
      else if (t->kind == Kind::Weight && std::count(t->readers.begin(), t->readers.end(), l.node)) l.weights.push_back(in);
    }
    for (const auto& out : n.outputs) {
      const std::string w = out.empty() ? out : written_name(plan, out);
      const rewrite::TensorPlan* t = w.empty() ? nullptr : planned(plan, w);
      if (t && t->kind == Kind::Activation && !t->constant) roots.insert(root_of(plan, w));
    }
    l.activations.assign(roots.begin(), roots.end());
    layers.push_back(std::move(l));
  }
  // A folded Relu/Clip belongs to the layer whose output it was folded into (through chained folds).
  std::map<int, size_t> layer_at;
  for (size_t k = 0; k < layers.size(); ++k) layer_at[layers[k].node] = k;
  for (size_t j = 0; j < graph.nodes.size(); ++j) {
    if (!plan.nodes[j].removed) continue;
    int p = static_cast<int>(j);
    while (p >= 0 && plan.nodes[static_cast<size_t>(p)].removed) p = graph.producer(graph.nodes[static_cast<size_t>(p)].input(0));
    if (auto it = layer_at.find(p); it != layer_at.end()) layers[it->second].folded.push_back(static_cast<int>(j));
  }
  return layers;
}

int64_t count_macs(const Graph& graph, int node, const std::function<const Shape*(const std::string&)>& shape_of) {
  const Node& n = graph.nodes[static_cast<size_t>(node)];
  if (!is_compute(n) || n.inputs.size() < 2 || n.outputs.empty()) return 0;
  auto shape = [&](const std::string& t) -> const Shape* {
    if (const Tensor* w = graph.weight(t)) return &w->shape();
    return shape_of(t);
  };
  const Shape *a = shape(n.inputs[0]), *b = shape(n.inputs[1]), *y = shape(n.outputs[0]);
  if (!a || !b || !y || b->size() < 2) return 0;
  if (n.op_type == "Conv") return shape_numel(*y) * product(*b, 1, b->size());  // Y · C/g · k...
  if (n.op_type == "ConvTranspose") return shape_numel(*a) * product(*b, 1, b->size());  // X · M/g · k...
  if (a->empty()) return 0;
  const int64_t k = n.op_type == "Gemm" && n.attr_int("transA", 0) ? (*a)[0] : a->back();
  return shape_numel(*y) * k;  // MatMul, Gemm: Y · K
}

rewrite::PrecisionOverrides precision_overrides(const std::vector<Layer>& layers, const std::vector<size_t>& chosen,
                                                const rewrite::QuantPlan& plan, Fallback fallback) {
  rewrite::PrecisionOverrides o;
  const auto groups = activation_groups(plan);
  for (size_t c : chosen) {
    const Layer& l = layers.at(c);
    if (fallback == Fallback::Int16) {
      o.wide_nodes.insert(l.node);
      o.wide_tensors.insert(l.activations.begin(), l.activations.end());
      continue;
    }
    o.float_nodes.insert(l.node);
    o.float_nodes.insert(l.folded.begin(), l.folded.end());
    for (const auto& root : l.activations) {
      auto g = groups.find(root);
      if (g != groups.end()) o.float_tensors.insert(g->second.begin(), g->second.end());
    }
  }
  return o;
}

MacShare mac_share(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<int, int64_t>& macs) {
  MacShare s;
  for (const auto& [node, count] : macs) {
    const Node& n = graph.nodes[static_cast<size_t>(node)];
    s.total += count;
    bool narrow = plan.nodes[static_cast<size_t>(node)].quantized && n.inputs.size() >= 2 && !n.outputs.empty();
    for (size_t k = 0; k < 2 && narrow; ++k) {
      const rewrite::TensorPlan* t = planned(plan, n.inputs[k]);
      narrow = t && !is_wide(t->spec.type) &&
               (t->kind == Kind::Activation || std::count(t->readers.begin(), t->readers.end(), node));
    }
    if (narrow) {
      const rewrite::TensorPlan* y = planned(plan, written_name(plan, n.outputs[0]));
      narrow = y && !is_wide(y->spec.type);
    }
    if (narrow) s.int8 += count;
  }
  return s;
}

}  // namespace ptq::search
