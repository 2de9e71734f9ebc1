// SPDX-License-Identifier: Apache-2.0
// Graph: ptq's read-only view of an ONNX graph, built once from the ModelProto. Nodes are in
// topological order; initializers and Constant nodes both become weights (Constant nodes are removed
// from the node list, their origin is kept); shapes come from the model's value_info and ONNX shape
// inference. Subgraphs (If/Loop/Scan bodies) are Graphs too, referring to outer-scope names through
// Node::implicit_inputs.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ptq/ir/tensor.h"

namespace ptq {

struct Graph;

struct Attribute {
  enum class Kind { Float, Int, String, Tensor, Graph, Floats, Ints, Strings, Tensors, Graphs, Other };
  Kind kind = Kind::Other;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<const Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<const Graph>> graphs;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;                     // "" for the default ONNX domain
  std::vector<std::string> inputs;        // "" marks an omitted optional input
  std::vector<std::string> outputs;       // "" marks an omitted optional output
  std::map<std::string, Attribute> attrs;
  int64_t opset = 0;                      // opset version of the node's domain
  std::vector<std::string> implicit_inputs;  // outer-scope names its subgraphs read
  int proto_index = -1;                   // position in the GraphProto's node list

  bool has_attr(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t attr_int(const std::string& key, int64_t fallback) const;
  float attr_float(const std::string& key, float fallback) const;
  std::string attr_string(const std::string& key, const std::string& fallback) const;
  std::vector<int64_t> attr_ints(const std::string& key, std::vector<int64_t> fallback = {}) const;
  std::vector<float> attr_floats(const std::string& key, std::vector<float> fallback = {}) const;
  const Tensor* attr_tensor(const std::string& key) const;
  const Graph* attr_graph(const std::string& key) const;
  // Input i's name, or "" when absent.
  const std::string& input(size_t i) const;
  bool has_input(size_t i) const { return !input(i).empty(); }
  // "node 'conv1' (Conv)" for messages; "unnamed node (Conv) writing 'y'" when the model gave no name.
  std::string describe() const;
};

struct Dim {
  int64_t value = -1;  // -1 when unknown or symbolic
  std::string param;   // symbolic name, if any
  bool known() const { return value >= 0; }
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::vector<Dim> dims;
  bool has_shape = false;
  // "[N,1,28,28]" with symbolic names, "?" for unknown dims; "(unknown)" without a shape.
  std::string shape_str() const;
};

enum class WeightSource { Initializer, ConstantNode, External };
std::string weight_source_name(WeightSource source);

struct Weight {
  Tensor value;
  WeightSource source = WeightSource::Initializer;
  std::string constant_node;  // name of the Constant node it came from, if any
};

struct Graph {
  std::string name;
  std::vector<Node> nodes;                   // topological order, without Constant nodes
  std::map<std::string, Weight> weights;     // initializers and Constant node outputs
  std::vector<ValueInfo> inputs;             // graph inputs that are not initializers
  std::vector<ValueInfo> outputs;
  std::unordered_map<std::string, ValueInfo> value_info;  // every name with known type/shape
  std::map<std::string, int64_t> opsets;     // domain ("" = ai.onnx) -> version
  std::vector<std::string> outer_refs;       // names read from enclosing graphs (subgraphs only)

  int64_t opset(const std::string& domain = "") const;
  const Tensor* weight(const std::string& tensor) const;
  bool is_weight(const std::string& tensor) const { return weights.count(tensor) != 0; }
  const ValueInfo* info(const std::string& tensor) const;
  // Index into nodes of the node producing `tensor`, or -1 (graph input, weight, outer scope).
  int producer(const std::string& tensor) const;
  // Indices into nodes of the nodes reading `tensor` (explicit or implicit inputs).
  std::vector<int> consumers(const std::string& tensor) const;
  bool is_graph_output(const std::string& tensor) const;

  // Built by build_graph().
  std::unordered_map<std::string, int> producer_index;
  std::unordered_map<std::string, std::vector<int>> consumer_index;
};

struct GraphOptions {
  bool infer_shapes = true;  // run ONNX shape inference to fill value_info
  // Tensors that were read from external data files (onnx_io::LoadedModel::external_tensors).
  std::vector<std::string> external_tensors;
  // Values of the graph's initializers left in external data (onnx_io::LoadedModel::mapped): the
  // weights are these views of the mapped files, never copies.
  const std::map<std::string, Tensor>* mapped = nullptr;
};

// Builds the Graph of a validated, external-data-resolved model. Throws ModelError for a cycle, an
// input no one produces, or a malformed Constant node.
Graph build_graph(const onnx::ModelProto& model, const GraphOptions& options = {});

// Builds a subgraph (If/Loop/Scan body) seeing `outer_names` from enclosing scopes.
Graph build_subgraph(const onnx::GraphProto& graph, const std::map<std::string, int64_t>& opsets,
                     const std::vector<std::string>& outer_names);

// Value of a Constant node (value, value_float(s), value_int(s)); throws for string/sparse values.
Tensor constant_node_value(const onnx::NodeProto& node);

// Converts an attribute proto (subgraphs are built with `opsets` and `outer_names`).
Attribute attribute_from_proto(const onnx::AttributeProto& proto, const std::map<std::string, int64_t>& opsets,
                               const std::vector<std::string>& outer_names);

ValueInfo value_info_from_proto(const onnx::ValueInfoProto& proto);

// ---- Subgraph scopes --------------------------------------------------------------------------------
// A tensor inside an If/Loop/Scan body is known to calibration tables, the executor's tap and reports
// by its scoped name "<holder>/<attribute>/<tensor>": <holder> is the name of the node holding the body
// (its first output's name when it has none), <attribute> the body's attribute (then_branch,
// else_branch, body); bodies inside bodies chain the prefixes. Names of the model's graph are unscoped.

// "<holder>/<attr>/" for a body of `node`.
std::string subgraph_scope(const Node& node, const std::string& attr);

// A graph seen from inside: its own names first, then those of the graphs enclosing it.
struct ScopeChain {
  const Graph* graph = nullptr;
  const ScopeChain* parent = nullptr;
  std::string prefix;  // "" for the model's graph, else the chained subgraph_scope()s

  // True when `name` is a weight, graph input or node output of this graph (not of an enclosing one).
  bool defines(const std::string& name) const;
  const Tensor* weight(const std::string& name) const;    // here or in an enclosing graph
  const ValueInfo* info(const std::string& name) const;   // here or in an enclosing graph
  // The scoped name of `name` as read here: prefix + name in the graph that defines it.
  std::string key(const std::string& name) const;
};

// Calls fn(scope, graph) for every body of every node of `graph`, depth first, with scoped prefixes
// starting from `prefix`.
void for_each_subgraph(const Graph& graph, const std::function<void(const std::string& scope, const Graph& body)>& fn,
                       const std::string& prefix = "");
// The weight whose scoped name is `key` (the model's weights by their plain names); nullptr if none.
const Tensor* find_scoped_weight(const Graph& graph, const std::string& key);
// True when `key` names a weight, graph input or node output of the graph or of one of its bodies.
bool has_scoped_tensor(const Graph& graph, const std::string& key);

}  // namespace ptq
