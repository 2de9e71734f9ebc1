// SPDX-License-Identifier: Apache-2.0
// ONNX shape inference as ptq runs it (ONNX 1.12's, with three fixes around it): Conv kernel shapes
// spelled out while it runs, ops newer than its schemas (kSameAsInputOps) typed as their input 0, and
// models below IR 4 read as IR 4 (initializers typed without matching graph inputs).
// Errors do not stop the caller: inference stops where it fails, with a debug note.
#include "ptq/ir/shape_inference.h"

#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <map>
#include <vector>

#include "ptq/util/log.h"

namespace ptq {
namespace {

// Ops newer than ONNX 1.12's shape inference whose output has the type and shape of input 0.
const char* const kSameAsInputOps[] = {"Gelu"};

// Ops whose output 0 has the dims of input 0 whatever their attributes: a weight reaches a Conv through
// them (a QDQ model's DequantizeLinear, an exporter's Identity or Cast).
const char* const kSameDimsOps[] = {"DequantizeLinear", "QuantizeLinear", "Identity", "Cast"};

// Dims of a Constant node's value, when it has one of the tensor-valued attributes.
bool constant_dims(const onnx::NodeProto& n, std::vector<int64_t>& dims) {
  for (const auto& a : n.attribute()) {
    if (a.name() == "value" && a.has_t()) {
      dims.assign(a.t().dims().begin(), a.t().dims().end());
      return true;
    }
    if (a.name() == "value_float" || a.name() == "value_int") return dims.clear(), true;
    if (a.name() == "value_floats") return dims.assign(1, a.floats_size()), true;
    if (a.name() == "value_ints") return dims.assign(1, a.ints_size()), true;
  }
  return false;
}

// Declared dims of a graph's tensors: initializers, and the typed graph inputs, outputs and value_info
// (-1: a dim without a value); then, in node order, the outputs of Constant nodes and of kSameDimsOps
// whose input is known. A weight may be any of them (fuzz: a Conv reading a graph output, a Constant or
// a DequantizeLinear of higher rank than its input). A body starts from its enclosing graphs' dims
// (`outer`): it may read their tensors.
std::map<std::string, std::vector<int64_t>> declared_dims(const onnx::GraphProto& graph,
                                                          const std::map<std::string, std::vector<int64_t>>& outer) {
  std::map<std::string, std::vector<int64_t>> dims = outer;
  for (const auto* list : {&graph.input(), &graph.output(), &graph.value_info()})
    for (const auto& vi : *list) {
      if (!vi.type().tensor_type().has_shape()) continue;
      std::vector<int64_t>& d = dims[vi.name()];
      d.clear();
      for (const auto& dim : vi.type().tensor_type().shape().dim()) d.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
    }
  for (const auto& t : graph.initializer()) dims[t.name()] = std::vector<int64_t>(t.dims().begin(), t.dims().end());
  for (const auto& n : graph.node()) {
    if (n.output_size() < 1 || !n.domain().empty() || dims.count(n.output(0))) continue;
    std::vector<int64_t> d;
    if (n.op_type() == "Constant" && constant_dims(n, d)) {
      dims[n.output(0)] = d;
    } else if (n.input_size() >= 1 && std::any_of(std::begin(kSameDimsOps), std::end(kSameDimsOps),
                                                  [&](const char* op) { return n.op_type() == op; })) {
      auto in = dims.find(n.input(0));
      if (in != dims.end()) dims[n.output(0)] = in->second;
    }
  }
  return dims;
}

// ONNX 1.12's shape inference for Conv/ConvTranspose without `kernel_shape` takes the kernel from the
// weight's dims [2:] and indexes the input's spatial dims with it unchecked: a weight of higher rank than
// the input crashes it (SIGSEGV; found twice by tests/fuzz/fuzz_model, the weight an initializer and a
// graph output). Spelling the default out (kernel_shape = the weight's declared dims [2:], what the spec
// defines it to be) makes it check the sizes and fail cleanly instead. In bodies too; returns the nodes
// given the attribute (as their last one), which infer_shapes() removes again after inference so the
// Graph sees the model's own attributes. False when a weight's dims are not known at all (another op
// computes it), or its kernel dims are not all known and its rank differs from its input's declared
// rank: ONNX's inference could crash on it, so it must not run.
bool spell_out_kernel_shapes(onnx::GraphProto& graph, std::vector<onnx::NodeProto*>& spelled,
                             const std::map<std::string, std::vector<int64_t>>& outer = {}) {
  const std::map<std::string, std::vector<int64_t>> dims = declared_dims(graph, outer);
  bool safe = true;
  for (auto& n : *graph.mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) safe = spell_out_kernel_shapes(*a.mutable_g(), spelled, dims) && safe;
      for (auto& g : *a.mutable_graphs()) safe = spell_out_kernel_shapes(g, spelled, dims) && safe;
    }
    if (!n.domain().empty() || (n.op_type() != "Conv" && n.op_type() != "ConvTranspose") || n.input_size() < 2) continue;
    if (std::any_of(n.attribute().begin(), n.attribute().end(), [](const onnx::AttributeProto& a) { return a.name() == "kernel_shape"; }))
      continue;
    auto w = dims.find(n.input(1));
    if (w == dims.end()) {
      safe = false;
      continue;
    }
    if (w->second.size() < 3) continue;
    const std::vector<int64_t> kernel(w->second.begin() + 2, w->second.end());
    if (std::any_of(kernel.begin(), kernel.end(), [](int64_t d) { return d < 0; })) {
      auto x = dims.find(n.input(0));
      safe = safe && (x == dims.end() || x->second.size() == w->second.size());
      continue;
    }
    onnx::AttributeProto* k = n.add_attribute();
    k->set_name("kernel_shape");
    k->set_type(onnx::AttributeProto::INTS);
    for (int64_t d : kernel) k->add_ints(d);
    spelled.push_back(&n);
  }
  return safe;
}

// ONNX shape inference, then, while some output of a kSameAsInputOps node is still untyped but its input
// is typed, that output's value_info is added (input 0's) and inference runs again, so the nodes after
// it get their types too. Bounded by the number of such nodes.
void infer_shapes_past_new_ops(onnx::ModelProto& model) {
  for (int round = 0;; ++round) {
    try {
      onnx::shape_inference::InferShapes(model);
    } catch (const std::exception& e) {
      log::debug("ONNX shape inference stopped early: ", e.what());
    }
    std::map<std::string, const onnx::ValueInfoProto*> typed;
    for (const auto& list : {&model.graph().input(), &model.graph().value_info(), &model.graph().output()})
      for (const auto& vi : *list)
        if (vi.type().tensor_type().elem_type() != 0) typed[vi.name()] = &vi;
    std::vector<onnx::ValueInfoProto> added;
    for (const auto& n : model.graph().node()) {
      const bool same_as_input = std::any_of(std::begin(kSameAsInputOps), std::end(kSameAsInputOps),
                                             [&](const char* op) { return n.op_type() == op && n.domain().empty(); });
      if (!same_as_input || n.input_size() < 1 || n.output_size() < 1 || typed.count(n.output(0))) continue;
      auto in = typed.find(n.input(0));
      if (in == typed.end()) continue;
      onnx::ValueInfoProto vi = *in->second;
      vi.set_name(n.output(0));
      added.push_back(vi);
    }
    if (added.empty() || round > model.graph().node_size()) return;
    for (auto& vi : added) *model.mutable_graph()->add_value_info() = std::move(vi);
  }
}

}  // namespace

void infer_shapes(onnx::ModelProto& model) {
  std::vector<onnx::NodeProto*> spelled;
  const bool safe = spell_out_kernel_shapes(*model.mutable_graph(), spelled);
  if (!safe) log::debug("ONNX shape inference skipped: a Conv weight's rank differs from its input's");
  // Below IR 4 ONNX's inference types initializers only through graph inputs of the same name, which IR 3
  // requires but exporters (and ONNX Runtime) do without: read as IR 4, where an initializer is a constant.
  const int64_t ir_version = model.ir_version();
  if (ir_version < 4) model.set_ir_version(4);
  if (safe) infer_shapes_past_new_ops(model);  // adds value_info, never nodes or attributes: the pointers stay valid
  model.set_ir_version(ir_version);
  for (onnx::NodeProto* n : spelled) n->mutable_attribute()->RemoveLast();
}

}  // namespace ptq
