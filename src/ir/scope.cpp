// SPDX-License-Identifier: Apache-2.0
// Scoped names of tensors inside If/Loop/Scan bodies (graph.h): "<holder>/<attribute>/<tensor>".
#include "ptq/ir/graph.h"

namespace ptq {
namespace {

bool defines_name(const Graph& g, const std::string& name) {
  if (g.is_weight(name) || g.producer(name) >= 0) return true;
  for (const auto& in : g.inputs)
    if (in.name == name) return true;
  return false;
}

// Calls fn(scope, body) for the bodies held directly by the nodes of `g`.
template <class Fn>
void each_body(const Graph& g, const std::string& prefix, Fn fn) {
  for (const auto& node : g.nodes)
    for (const auto& [attr, a] : node.attrs) {
      if (a.g) fn(prefix + subgraph_scope(node, attr), *a.g);
      for (size_t k = 0; k < a.graphs.size(); ++k)
        fn(prefix + subgraph_scope(node, attr + "_" + std::to_string(k)), *a.graphs[k]);
    }
}

}  // namespace

std::string subgraph_scope(const Node& node, const std::string& attr) {
  const std::string holder = !node.name.empty() ? node.name : node.outputs.empty() ? node.op_type : node.outputs.front();
  return holder + "/" + attr + "/";
}

bool ScopeChain::defines(const std::string& name) const { return graph && defines_name(*graph, name); }

const Tensor* ScopeChain::weight(const std::string& name) const {
  for (const ScopeChain* s = this; s; s = s->parent) {
    if (const Tensor* w = s->graph->weight(name)) return w;
    if (s->defines(name)) return nullptr;  // a computed value shadows nothing further out
  }
  return nullptr;
}

const ValueInfo* ScopeChain::info(const std::string& name) const {
  for (const ScopeChain* s = this; s; s = s->parent)
    if (const ValueInfo* vi = s->graph->info(name); vi && vi->dtype != DType::Undefined) return vi;
  return nullptr;
}

std::string ScopeChain::key(const std::string& name) const {
  for (const ScopeChain* s = this; s; s = s->parent)
    if (s->defines(name)) return s->prefix + name;
  return prefix + name;
}

void for_each_subgraph(const Graph& graph, const std::function<void(const std::string&, const Graph&)>& fn,
                       const std::string& prefix) {
  each_body(graph, prefix, [&](const std::string& scope, const Graph& body) {
    fn(scope, body);
    for_each_subgraph(body, fn, scope);
  });
}

const Tensor* find_scoped_weight(const Graph& graph, const std::string& key) {
  if (const Tensor* w = graph.weight(key)) return w;
  const Tensor* found = nullptr;
  for_each_subgraph(graph, [&](const std::string& scope, const Graph& body) {
    if (!found && key.size() > scope.size() && key.compare(0, scope.size(), scope) == 0)
      found = body.weight(key.substr(scope.size()));
  });
  return found;
}

bool has_scoped_tensor(const Graph& graph, const std::string& key) {
  if (defines_name(graph, key)) return true;
  bool found = false;
  for_each_subgraph(graph, [&](const std::string& scope, const Graph& body) {
    if (!found && key.size() > scope.size() && key.compare(0, scope.size(), scope) == 0)
      found = defines_name(body, key.substr(scope.size()));
  });
  return found;
}

}  // namespace ptq
