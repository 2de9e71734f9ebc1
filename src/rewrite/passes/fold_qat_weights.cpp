// SPDX-License-Identifier: Apache-2.0
// fold_qat_weights: a quantization-aware-training export (PyTorch's torch.onnx.export of a fake-quantized
// model, TensorRT's QAT toolkits) carries its weights as float initializers behind QuantizeLinear →
// DequantizeLinear pairs. Each such pair becomes what ptq itself writes: one DequantizeLinear of an
// integer initializer.
//
//   Before:  W (float) → QuantizeLinear(s, zp, axis) → q → DequantizeLinear(s, zp, axis) → W̃ → Conv …
//   After:   W_q (int8 initializer "<W>_quantized") → DequantizeLinear(s, zp, axis) → W̃ → Conv …
//   with W_q = QuantizeLinear(W, s, zp) computed by ptq's own QuantizeLinear kernel (x / s rounded half
//   to even, plus zp, saturated to zp's type), so W̃ is bit for bit what the QAT model computes.
//
// Conditions: W, s and zp are constants: initializers, Constant nodes, or Identity/Cast of them (PyTorch
// exports the zero point through a Cast or Identity); every reader of q is a DequantizeLinear and q is
// not a graph output. The scale and zero point a DequantizeLinear reads through Identity/Cast become
// initializers ("<q>_scale", "<q>_zero_point"). Activation Q/DQ pairs (whose input is not a constant)
// are left as they are. Float weights, Identity/Cast nodes and constants no longer read are dropped.
// Only the model's graph is folded (a QAT export has no If/Loop bodies).
#include <algorithm>

#include "ptq/exec/kernel.h"
#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "../rewrite_internal.h"

namespace ptq::rewrite {
namespace {

bool is_op(const Node& n, const char* op) { return n.domain.empty() && n.op_type == op; }

Tensor run_node(const Node& n, const std::vector<const Tensor*>& inputs) {
  const exec::KernelEntry* k = exec::find_kernel("", n.op_type);
  PTQ_CHECK(k != nullptr);
  exec::KernelIO io;
  io.inputs = inputs;
  io.outputs.resize(n.outputs.size());
  k->make(n)(io);
  return std::move(io.outputs[0]);
}

// The value of a constant tensor (a weight, or Identity/Cast of one); false when it is not constant.
bool constant_value(const Graph& g, const std::string& name, Tensor& out, int depth = 0) {
  if (name.empty()) return false;
  if (const Tensor* w = g.weight(name)) {
    out = *w;
    return true;
  }
  const int p = g.producer(name);
  if (p < 0 || depth > 8) return false;
  const Node& n = g.nodes[static_cast<size_t>(p)];
  Tensor in;
  if (!(is_op(n, "Identity") || is_op(n, "Cast")) || !constant_value(g, n.input(0), in, depth + 1)) return false;
  out = is_op(n, "Identity") ? in : run_node(n, {&in});
  return true;
}

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float16 || t == DType::Float64; }

// Points input `index` of a DequantizeLinear at an initializer holding `value`: the same name when it
// already is one, else a new initializer "<base>_<what>".
void set_constant_input(const Graph& g, onnx::GraphProto& gp, Names& names, onnx::NodeProto& dq, int index,
                        const Tensor& value, const std::string& base, const char* what) {
  if (index >= dq.input_size() || dq.input(index).empty() || g.weight(dq.input(index))) return;
  const std::string name = names.unique(base + "_" + what);
  *gp.add_initializer() = onnx_io::tensor_to_proto(value, name);
  dq.set_input(index, name);
}

// Identity/Cast nodes (and Constant nodes) of the graph proto whose outputs nothing reads any more.
void drop_dead_constant_nodes(onnx::GraphProto& gp) {
  for (bool again = true; again;) {
    again = false;
    std::set<std::string> read;
    collect_reads(gp, read);
    for (int i = gp.node_size() - 1; i >= 0; --i) {
      const onnx::NodeProto& n = gp.node(i);
      const bool kind = n.domain().empty() && (n.op_type() == "Identity" || n.op_type() == "Cast" || n.op_type() == "Constant");
      if (!kind || std::any_of(n.output().begin(), n.output().end(), [&](const std::string& o) { return read.count(o); }))
        continue;
      gp.mutable_node()->DeleteSubrange(i, 1);
      again = true;
    }
  }
}

}  // namespace

bool has_qdq(const onnx::ModelProto& model) {
  return std::any_of(model.graph().node().begin(), model.graph().node().end(), [](const onnx::NodeProto& n) {
    return n.domain().empty() && (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear");
  });
}

PassResult fold_qat_weights(const onnx::ModelProto& model) {
  GraphOptions options;
  options.infer_shapes = false;
  const Graph g = build_graph(model, options);
  PassResult r{model, 0};
  onnx::GraphProto& gp = *r.model.mutable_graph();
  Names names(gp);
  std::set<int> removed;
  std::set<std::string> candidates;
  for (const auto& q : g.nodes) {
    if (!is_op(q, "QuantizeLinear")) continue;
    Tensor w, scale, zp;
    const bool has_zp = q.has_input(2);
    if (!constant_value(g, q.input(0), w) || !is_float(w.dtype()) || !constant_value(g, q.input(1), scale) ||
        (has_zp && !constant_value(g, q.input(2), zp)))
      continue;
    const std::string& out = q.outputs[0];
    const std::vector<int> readers = g.consumers(out);
    if (readers.empty() || g.is_graph_output(out) ||
        !std::all_of(readers.begin(), readers.end(), [&](int i) { return is_op(g.nodes[static_cast<size_t>(i)], "DequantizeLinear"); }))
      continue;
    const Tensor quantized = run_node(q, {&w, &scale, has_zp ? &zp : nullptr});
    const std::string name = names.unique(q.input(0) + "_quantized");
    *gp.add_initializer() = onnx_io::tensor_to_proto(quantized, name);
    for (int i : readers) {
      const Node& dq = g.nodes[static_cast<size_t>(i)];
      onnx::NodeProto& proto = *gp.mutable_node(dq.proto_index);
      proto.set_input(0, name);
      Tensor dq_scale, dq_zp;
      if (constant_value(g, dq.input(1), dq_scale)) set_constant_input(g, gp, names, proto, 1, dq_scale, out, "scale");
      if (constant_value(g, dq.input(2), dq_zp)) set_constant_input(g, gp, names, proto, 2, dq_zp, out, "zero_point");
    }
    for (const auto& in : q.inputs) candidates.insert(in);
    removed.insert(q.proto_index);
    ++r.changed;
  }
  if (!r.changed) return r;
  for (auto it = removed.rbegin(); it != removed.rend(); ++it) gp.mutable_node()->DeleteSubrange(*it, 1);
  drop_dead_constant_nodes(gp);
  drop_unread_weights(gp, g, candidates);
  return r;
}

}  // namespace ptq::rewrite
