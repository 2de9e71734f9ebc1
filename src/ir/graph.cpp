// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/graph.h"

#include <algorithm>
#include <queue>
#include <set>
#include <unordered_set>

#include "ptq/ir/onnx_io.h"
#include "ptq/ir/shape_inference.h"
#include "ptq/util/log.h"

namespace ptq {

// ---- Node -------------------------------------------------------------------------------------------

namespace {
const Attribute* find_attr(const Node& node, const std::string& key, Attribute::Kind kind) {
  auto it = node.attrs.find(key);
  if (it == node.attrs.end()) return nullptr;
  if (it->second.kind != kind) PTQ_FAIL(ModelError, node.describe(), ": attribute '", key, "' has an unexpected type");
  return &it->second;
}
const std::string kEmpty;
}  // namespace

int64_t Node::attr_int(const std::string& key, int64_t fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Int);
  return a ? a->i : fallback;
}
float Node::attr_float(const std::string& key, float fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Float);
  return a ? a->f : fallback;
}
std::string Node::attr_string(const std::string& key, const std::string& fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::String);
  return a ? a->s : fallback;
}
std::vector<int64_t> Node::attr_ints(const std::string& key, std::vector<int64_t> fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Ints);
  return a ? a->ints : fallback;
}
std::vector<float> Node::attr_floats(const std::string& key, std::vector<float> fallback) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Floats);
  return a ? a->floats : fallback;
}
const Tensor* Node::attr_tensor(const std::string& key) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Tensor);
  return a ? &a->t : nullptr;
}
const Graph* Node::attr_graph(const std::string& key) const {
  const Attribute* a = find_attr(*this, key, Attribute::Kind::Graph);
  return a ? a->g.get() : nullptr;
}
const std::string& Node::input(size_t i) const { return i < inputs.size() ? inputs[i] : kEmpty; }
std::string Node::describe() const {
  if (!name.empty()) return "node '" + name + "' (" + op_type + ")";
  const std::string first = outputs.empty() ? std::string() : outputs.front();
  return "unnamed node (" + op_type + (first.empty() ? std::string(")") : ") writing '" + first + "'");
}

std::string ValueInfo::shape_str() const {
  if (!has_shape) return "(unknown)";
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ",";
    if (dims[i].known()) s += std::to_string(dims[i].value);
    else s += dims[i].param.empty() ? "?" : dims[i].param;
  }
  return s + "]";
}

std::string weight_source_name(WeightSource source) {
  switch (source) {
    case WeightSource::Initializer: return "initializer";
    case WeightSource::ConstantNode: return "Constant";
    case WeightSource::External: return "external";
  }
  return "?";
}

// ---- Graph lookups ---------------------------------------------------------------------------------

int64_t Graph::opset(const std::string& domain) const {
  auto it = opsets.find(domain);
  return it == opsets.end() ? 0 : it->second;
}
const Tensor* Graph::weight(const std::string& tensor) const {
  auto it = weights.find(tensor);
  return it == weights.end() ? nullptr : &it->second.value;
}
const ValueInfo* Graph::info(const std::string& tensor) const {
  auto it = value_info.find(tensor);
  return it == value_info.end() ? nullptr : &it->second;
}
int Graph::producer(const std::string& tensor) const {
  auto it = producer_index.find(tensor);
  return it == producer_index.end() ? -1 : it->second;
}
std::vector<int> Graph::consumers(const std::string& tensor) const {
  auto it = consumer_index.find(tensor);
  return it == consumer_index.end() ? std::vector<int>{} : it->second;
}
bool Graph::is_graph_output(const std::string& tensor) const {
  for (const auto& o : outputs)
    if (o.name == tensor) return true;
  return false;
}

// ---- Conversion from protobuf -----------------------------------------------------------------------

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& proto) {
  ValueInfo vi;
  vi.name = proto.name();
  if (proto.has_type() && proto.type().has_tensor_type()) {
    const auto& tt = proto.type().tensor_type();
    vi.dtype = dtype_from_onnx(tt.elem_type());
    if (tt.has_shape()) {
      vi.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        if (d.has_dim_param()) dim.param = d.dim_param();
        vi.dims.push_back(dim);
      }
    }
  }
  return vi;
}

Tensor constant_node_value(const onnx::NodeProto& node) {
  for (const auto& a : node.attribute()) {
    if (a.name() == "value") {
      if (a.t().data_type() == onnx::TensorProto::STRING)
        PTQ_FAIL(UnsupportedError, "Constant node '", node.name(), "': string tensors are not supported");
      return onnx_io::tensor_from_proto(a.t());
    }
    if (a.name() == "value_float") return Tensor::scalar<float>(a.f());
    if (a.name() == "value_int") return Tensor::scalar<int64_t>(a.i());
    if (a.name() == "value_floats") {
      std::vector<float> v(a.floats().begin(), a.floats().end());
      return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
    }
    if (a.name() == "value_ints") {
      std::vector<int64_t> v(a.ints().begin(), a.ints().end());
      return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
    }
    if (a.name() == "sparse_value" || a.name() == "value_string" || a.name() == "value_strings")
      PTQ_FAIL(UnsupportedError, "Constant node '", node.name(), "': attribute '", a.name(), "' is not supported");
  }
  PTQ_FAIL(ModelError, "Constant node '", node.name(), "' has no value attribute");
}

Attribute attribute_from_proto(const onnx::AttributeProto& p, const std::map<std::string, int64_t>& opsets,
                               const std::vector<std::string>& outer_names) {
  Attribute a;
  using K = Attribute::Kind;
  auto type = p.type();
  if (type == onnx::AttributeProto::UNDEFINED) {  // very old models do not set the type
    if (p.has_f()) type = onnx::AttributeProto::FLOAT;
    else if (p.has_i()) type = onnx::AttributeProto::INT;
    else if (p.has_s()) type = onnx::AttributeProto::STRING;
    else if (p.has_t()) type = onnx::AttributeProto::TENSOR;
    else if (p.has_g()) type = onnx::AttributeProto::GRAPH;
    else if (p.floats_size()) type = onnx::AttributeProto::FLOATS;
    else if (p.ints_size()) type = onnx::AttributeProto::INTS;
    else if (p.strings_size()) type = onnx::AttributeProto::STRINGS;
  }
  switch (type) {
    case onnx::AttributeProto::FLOAT: a.kind = K::Float; a.f = p.f(); break;
    case onnx::AttributeProto::INT: a.kind = K::Int; a.i = p.i(); break;
    case onnx::AttributeProto::STRING: a.kind = K::String; a.s = p.s(); break;
    case onnx::AttributeProto::TENSOR:
      if (p.t().data_type() == onnx::TensorProto::STRING) break;  // kept as Other; kernels reject it
      a.kind = K::Tensor;
      a.t = onnx_io::tensor_from_proto(p.t());
      break;
    case onnx::AttributeProto::GRAPH:
      a.kind = K::Graph;
      a.g = std::make_shared<Graph>(build_subgraph(p.g(), opsets, outer_names));
      break;
    case onnx::AttributeProto::FLOATS: a.kind = K::Floats; a.floats.assign(p.floats().begin(), p.floats().end()); break;
    case onnx::AttributeProto::INTS: a.kind = K::Ints; a.ints.assign(p.ints().begin(), p.ints().end()); break;
    case onnx::AttributeProto::STRINGS: a.kind = K::Strings; a.strings.assign(p.strings().begin(), p.strings().end()); break;
    case onnx::AttributeProto::TENSORS:
      a.kind = K::Tensors;
      for (const auto& t : p.tensors()) a.tensors.push_back(onnx_io::tensor_from_proto(t));
      break;
    case onnx::AttributeProto::GRAPHS:
      a.kind = K::Graphs;
      for (const auto& g : p.graphs()) a.graphs.push_back(std::make_shared<Graph>(build_subgraph(g, opsets, outer_names)));
      break;
    default: break;
  }
  return a;
}

namespace {

std::string normalize_domain(const std::string& d) { return d == "ai.onnx" ? std::string() : d; }

// Kahn's algorithm; among ready nodes the one earliest in the file goes first, so an already sorted
// graph keeps its order.
std::vector<Node> topological_sort(std::vector<Node> nodes, const std::unordered_set<std::string>& available,
                                   const std::unordered_set<std::string>& outer) {
  std::unordered_map<std::string, int> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) producer[o] = static_cast<int>(i);
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<int>> users(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::set<int> deps;
    auto need = [&](const std::string& name, bool implicit) {
      if (name.empty()) return;
      auto it = producer.find(name);
      if (it != producer.end()) {
        deps.insert(it->second);
      } else if (!available.count(name) && !outer.count(name) && !implicit) {
        PTQ_FAIL(ModelError, nodes[i].describe(), ": input '", name,
                 "' is not produced by any node, initializer or graph input");
      }
    };
    for (const auto& in : nodes[i].inputs) need(in, false);
    for (const auto& in : nodes[i].implicit_inputs) need(in, true);
    deps.erase(static_cast<int>(i));
    pending[i] = static_cast<int>(deps.size());
    for (int d : deps) users[static_cast<size_t>(d)].push_back(static_cast<int>(i));
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < nodes.size(); ++i)
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  std::vector<Node> sorted;
  sorted.reserve(nodes.size());
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    sorted.push_back(std::move(nodes[static_cast<size_t>(i)]));
    for (int u : users[static_cast<size_t>(i)])
      if (--pending[static_cast<size_t>(u)] == 0) ready.push(u);
  }
  if (sorted.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] > 0) PTQ_FAIL(ModelError, "the graph has a cycle through ", nodes[i].describe());
  }
  return sorted;
}

Graph build_graph_impl(const onnx::GraphProto& gp, const std::map<std::string, int64_t>& opsets,
                       const std::vector<std::string>& outer_names, bool is_subgraph,
                       const std::map<std::string, Tensor>* mapped = nullptr) {
  Graph g;
  g.name = gp.name();
  g.opsets = opsets;
  std::unordered_set<std::string> initializer_names;
  for (const auto& t : gp.initializer()) initializer_names.insert(t.name());
  for (const auto& vi : gp.input()) {
    ValueInfo info = value_info_from_proto(vi);
    g.value_info[info.name] = info;
    if (!initializer_names.count(vi.name())) g.inputs.push_back(info);
  }
  for (const auto& vi : gp.output()) {
    ValueInfo info = value_info_from_proto(vi);
    g.outputs.push_back(info);
    if (info.dtype != DType::Undefined || !g.value_info.count(info.name)) g.value_info[info.name] = info;
  }
  for (const auto& vi : gp.value_info()) g.value_info[vi.name()] = value_info_from_proto(vi);
  for (const auto& t : gp.initializer()) {
    Weight w;
    const bool external = mapped && t.data_location() == onnx::TensorProto::EXTERNAL && mapped->count(t.name());
    w.value = external ? mapped->at(t.name()) : onnx_io::tensor_from_proto(t);
    g.weights[t.name()] = std::move(w);
  }

  // Names visible to subgraphs: everything defined here plus the enclosing scopes.
  std::vector<std::string> visible = outer_names;
  for (const auto& vi : gp.input()) visible.push_back(vi.name());
  for (const auto& t : gp.initializer()) visible.push_back(t.name());
  for (const auto& n : gp.node())
    for (const auto& o : n.output()) visible.push_back(o);

  std::vector<Node> nodes;
  for (int idx = 0; idx < gp.node_size(); ++idx) {
    const auto& np = gp.node(idx);
    std::string domain = normalize_domain(np.domain());
    if (np.op_type() == "Constant" && domain.empty()) {
      if (np.output_size() != 1) PTQ_FAIL(ModelError, "Constant node '", np.name(), "' must have one output");
      Weight w;
      w.value = constant_node_value(np);
      w.source = WeightSource::ConstantNode;
      w.constant_node = np.name();
      g.weights[np.output(0)] = std::move(w);
      continue;
    }
    Node node;
    node.name = np.name();
    node.op_type = np.op_type();
    node.domain = domain;
    node.inputs.assign(np.input().begin(), np.input().end());
    node.outputs.assign(np.output().begin(), np.output().end());
    auto op = opsets.find(domain);
    node.opset = op == opsets.end() ? 0 : op->second;
    node.proto_index = idx;
    std::set<std::string> implicit;
    for (const auto& ap : np.attribute()) {
      try {
        Attribute a = attribute_from_proto(ap, opsets, visible);
        if (a.g) implicit.insert(a.g->outer_refs.begin(), a.g->outer_refs.end());
        for (const auto& sg : a.graphs) implicit.insert(sg->outer_refs.begin(), sg->outer_refs.end());
        node.attrs.emplace(ap.name(), std::move(a));
      } catch (Error& e) {
        e.append_context(node.describe());
        throw;
      }
    }
    node.implicit_inputs.assign(implicit.begin(), implicit.end());
    nodes.push_back(std::move(node));
  }

  std::unordered_set<std::string> available(initializer_names.begin(), initializer_names.end());
  for (const auto& vi : gp.input()) available.insert(vi.name());
  for (const auto& kv : g.weights) available.insert(kv.first);
  std::unordered_set<std::string> outer(outer_names.begin(), outer_names.end());
  g.nodes = topological_sort(std::move(nodes), available, is_subgraph ? outer : std::unordered_set<std::string>{});

  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (const auto& o : n.outputs)
      if (!o.empty()) g.producer_index[o] = static_cast<int>(i);
  }
  std::set<std::string> refs;
  auto note_use = [&](const std::string& name) {
    if (name.empty() || g.producer_index.count(name) || available.count(name)) return;
    if (!is_subgraph) PTQ_FAIL(ModelError, "graph output '", name, "' is not produced by any node");
    refs.insert(name);
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::set<std::string> seen;
    auto add_consumer = [&](const std::string& name) {
      if (name.empty() || !seen.insert(name).second) return;
      g.consumer_index[name].push_back(static_cast<int>(i));
      note_use(name);
    };
    for (const auto& in : n.inputs) add_consumer(in);
    for (const auto& in : n.implicit_inputs) add_consumer(in);
  }
  for (const auto& o : g.outputs) note_use(o.name);
  g.outer_refs.assign(refs.begin(), refs.end());
  return g;
}

}  // namespace

Graph build_subgraph(const onnx::GraphProto& graph, const std::map<std::string, int64_t>& opsets,
                     const std::vector<std::string>& outer_names) {
  return build_graph_impl(graph, opsets, outer_names, true);
}

Graph build_graph(const onnx::ModelProto& model, const GraphOptions& options) {
  std::map<std::string, int64_t> opsets;
  for (const auto& op : model.opset_import()) opsets[normalize_domain(op.domain())] = op.version();
  if (!opsets.count("")) opsets[""] = 1;  // IR < 3 models carry no opset_import
  Graph g;
  if (!options.infer_shapes) {
    g = build_graph_impl(model.graph(), opsets, {}, false, options.mapped);
  } else {
    onnx::ModelProto inferred = model;
    infer_shapes(inferred);
    g = build_graph_impl(inferred.graph(), opsets, {}, false, options.mapped);
  }
  for (const auto& name : options.external_tensors) {
    auto it = g.weights.find(name);
    if (it != g.weights.end()) it->second.source = WeightSource::External;
  }
  return g;
}

}  // namespace ptq
