// SPDX-License-Identifier: Apache-2.0
// Pieces of rewrite_model shared between its files (not public API).
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ptq/rewrite/quantizer.h"

namespace ptq::rewrite {

// format.cpp: where the Q/DQ ops live and which default opset the output declares.
struct QdqFormat {
  std::string domain;      // "" (ONNX) or "com.microsoft"
  int64_t opset = 0;       // default-domain opset of the output
  int64_t from_opset = 0;  // the input model's
};
QdqFormat choose_format(const onnx::ModelProto& model, const QuantPlan& plan);
// Sets opset imports (com.microsoft when used) and the IR version the opset needs.
void apply_format(onnx::ModelProto& model, const QdqFormat& format, bool uses_ms_domain);

// opset_upgrade.cpp: raises the default opset from `from` to `to`, converting nodes whose meaning
// changed in between (e.g. Clip min/max attributes → inputs); throws UnsupportedError naming the
// node when a change cannot be converted. `rank_of` gives a top-level tensor's rank or -1.
void upgrade_opset(onnx::ModelProto& model, int64_t from, int64_t to, const std::function<int(const std::string&)>& rank_of);

// Generated-name registry: every name in the model; unique(base) returns base, or base_1, base_2, …
// when base is taken, and reserves it.
class Names {
 public:
  explicit Names(const onnx::GraphProto& graph);
  std::string unique(const std::string& base);
  bool taken(const std::string& name) const { return used_.count(name) != 0; }

 private:
  std::set<std::string> used_;
};

// Every name read by a node of `graph` or of its subgraphs, and the graph outputs.
void collect_reads(const onnx::GraphProto& graph, std::set<std::string>& out);

// Deletes the elements of a repeated protobuf field for which pred holds.
template <class List, class Pred>
void erase_if(List* list, Pred pred) {
  for (int i = list->size() - 1; i >= 0; --i)
    if (pred(list->Get(i))) list->DeleteSubrange(i, 1);
}

// After a pass replaced some float weights: drops those of `candidates` that `g` (the graph before the
// pass) holds as weights and no node reads any more (initializers, graph inputs, Constant nodes,
// value_info entries).
void drop_unread_weights(onnx::GraphProto& gp, const Graph& g, const std::set<std::string>& candidates);

// Sets a node's INT attribute `name` to v (adds it when absent).
void set_int_attr(onnx::NodeProto& node, const std::string& name, int64_t v);
// A copy of gp's value_info entry for `like`, named `name`, added to gp (when the model declares one):
// the new entry, else null.
onnx::ValueInfoProto* declare_like(onnx::GraphProto& gp, const std::string& like, const std::string& name);

// smooth_quant.cpp: a Mul node `name` writing out = in · scale, the scale (`values` of `shape`) added to
// gp as initializer `scale`; the caller places the node (insert_nodes_after).
onnx::NodeProto scale_mul(onnx::GraphProto& gp, const std::string& name, const std::string& in, const std::string& scale,
                          const std::vector<float>& values, const Shape& shape, const std::string& out);
// Also smooth_quant.cpp: inserts nodes into a topologically ordered node list, each (after, node) right
// after the node at proto index `after` (-1: first), keeping the list topological.
void insert_nodes_after(onnx::GraphProto& gp, const std::vector<std::pair<int, onnx::NodeProto>>& inserted);

// passes/channel_equalize.cpp, shared with passes/channel_split.cpp:
// - the element-wise activations a per-channel pass lets read a convolution's output (a Mul among
//   them only of that output, a constant, or another reader's output, as SiLU's X · σ(X));
// - a Conv with a constant float weight (rank >= 3), a produced input and a constant float bias of M
//   values or none: its weight, else null;
// - the noise gain of one per-tensor grid over per-channel grids for channels of max|x| = a_c:
//   mean_c (max a / a_c)², a_c taken at least max a / 256.
const std::set<std::string>& channelwise_activation_ops();
const Tensor* constant_conv_weight(const Graph& g, const Node& n);
double noise_gain(const std::vector<double>& a);

// reader_gain.cpp: sets TensorPlan::gain of every calibrated activation of `plan`, a plan of `g`, from
// the nodes that read it (or a tensor sharing its parameters).
void assign_reader_gains(const Graph& g, QuantPlan& plan);

// validate.cpp: structural checks of the rewritten model (always) and onnx::checker (where ONNX 1.12
// knows the opset and IR version; external tensors are hidden from it while it runs, then put back).
// Throws Error ("internal error") on failure: a ptq bug.
void validate_quantized_model(onnx::ModelProto& model);

// shared_int8.cpp: QuantOptions::unsigned_shared_int8 applied to the resolved parameters.
void unsign_shared_int8(const Graph& g, const QuantPlan& plan, std::map<std::string, QParams>& params);

// Scale (float32) and zero point (params.type) tensors: scalars when per-tensor, 1-D when per-channel.
Tensor scale_tensor(const QParams& params);
Tensor zero_point_tensor(const QParams& params);

}  // namespace ptq::rewrite
