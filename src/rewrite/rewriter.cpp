// SPDX-License-Identifier: Apache-2.0
// rewrite_model: the quantized ModelProto for a plan and its parameters (Q/DQ form).
//   activation T (computed):  producer → T → Q(T_scale, T_zero_point) → T_QuantizeLinear_Output
//                             → DQ → T_DequantizeLinear_Output → every consumer of T
//     a graph output keeps its name on the DQ output; its producer writes T_QuantizeLinear_Input.
//     Shared parameters (data movement) reuse the root tensor's T_scale/T_zero_point initializers.
//   weight / bias / constant W: W_quantized (integer initializer) → DQ(W_scale, W_zero_point [, axis])
//     → W_DequantizeLinear_Output, read by the nodes that asked for it (others keep the float W);
//     a bias DQ has no zero point input (0, DequantizeLinear's default: 4 bytes per channel saved).
//   folded Relu/Clip: removed; the producer writes the Relu/Clip output name directly.
// Float weights, Constant nodes and initializers no longer read are dropped.
// Bodies (If, Loop, Scan): each is rewritten the same way for its own plan, inside the body: its
// weights (or those it reads from an enclosing graph) become initializers of the body with their DQ,
// and a value it reads from an enclosing graph and quantizes gets its Q → DQ at the top of the body
// (ONNX Runtime fuses Q/DQ groups within one graph). A body with nothing planned is copied as it is.
#include "emitter.h"
#include "matmulnbits.h"

#include <algorithm>

#include "ptq/ir/data_file_writer.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/quant/scale.h"
#include "ptq/util/error.h"
#include "ptq/util/log.h"

namespace ptq::rewrite {

using Kind = TensorPlan::Kind;

Emitter::Emitter(const onnx::GraphProto& source, const ScopeChain& chain, const QuantPlan& plan,
                 const std::map<std::string, QParams>& params, const QdqFormat& format, Names& names,
                 onnx_io::DataFileWriter* data_file)
    : source_(source), chain_(chain), g_(*chain.graph), plan_(plan), params_(params), format_(format), names_(names),
      data_file_(data_file) {}

void Emitter::run(onnx::GraphProto& out) {
  out_ = &out;
  out_->clear_node();
  emit_constant_nodes();
  emit_quantized_constants();
  emit_graph_inputs();
  for (size_t i = 0; i < g_.nodes.size(); ++i) emit_node(static_cast<int>(i));
  remove_unused();
}

const TensorPlan* Emitter::planned(const std::string& tensor) const {
  auto it = plan_.tensors.find(tensor);
  return it == plan_.tensors.end() ? nullptr : &it->second;
}

bool Emitter::is_activation(const std::string& tensor) const {
  const TensorPlan* t = planned(tensor);
  return t && t->kind == Kind::Activation && !t->constant;
}

std::string Emitter::root_of(const std::string& tensor) const {
  std::string r = tensor;
  while (!plan_.tensors.at(r).params_from.empty()) r = plan_.tensors.at(r).params_from;
  return r;
}

const QParams& Emitter::params_of(const std::string& tensor) const { return params_.at(plan_.tensors.at(tensor).table_key()); }

const Tensor& Emitter::weight(const std::string& tensor) const {
  const Tensor* w = chain_.weight(tensor);
  PTQ_CHECK(w != nullptr);
  return *w;
}

std::string Emitter::add_initializer(const Tensor& value, const std::string& base) {
  std::string name = names_.unique(base);
  *out_->add_initializer() = onnx_io::tensor_to_proto(value, name);
  return name;
}

std::string Emitter::store_weight(const Tensor& value, const std::string& base) {
  if (!data_file_) return add_initializer(value, base);
  std::string name = names_.unique(base);
  onnx::TensorProto* t = out_->add_initializer();
  if (!data_file_->write(value, name, *t)) *t = onnx_io::tensor_to_proto(value, name);
  return name;
}

onnx::NodeProto& Emitter::add_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                                   std::vector<std::string> outputs, const std::string& domain) {
  onnx::NodeProto& n = *out_->add_node();
  n.set_op_type(op);
  n.set_name(name);
  if (!domain.empty()) n.set_domain(domain);
  for (auto& i : inputs) n.add_input(i);
  for (auto& o : outputs) n.add_output(o);
  return n;
}

const std::pair<std::string, std::string>& Emitter::param_names(const std::string& root) {
  auto it = param_names_.find(root);
  if (it != param_names_.end()) return it->second;
  const QParams& p = params_of(root);
  std::string scale = add_initializer(scale_tensor(p), root + "_scale");
  std::string zero_point = add_initializer(zero_point_tensor(p), root + "_zero_point");
  return param_names_[root] = {scale, zero_point};
}

void Emitter::emit_constant_nodes() {
  for (const auto& n : source_.node())
    if (n.op_type() == "Constant" && (n.domain().empty() || n.domain() == "ai.onnx")) *out_->add_node() = n;
}

// Weights, biases and constant activations: stored quantized + one DQ.
void Emitter::emit_quantized_constants() {
  for (const auto& [name, t] : plan_.tensors) {
    if (!t.constant || t.integer) continue;
    const QParams& p = params_of(name);
    const Tensor& value = weight(name);
    if (!chain_.defines(name)) replaced_outer_.insert(name);
    Tensor q = t.kind == Kind::Bias ? quantize_bias(value, p, name) : quantize_tensor(value, p);
    onnx_io::release_pages(value);  // a view of mapped external data: read back if needed again
    std::vector<std::string> inputs = {store_weight(q, name + "_quantized")};
    if (t.kind == Kind::Bias) {
      inputs.push_back(add_initializer(scale_tensor(p), name + "_scale"));  // zero point 0: omitted (the default)
    } else if (p.blocked() && p.type == QType::Int4 && std::all_of(p.zero_point.begin(), p.zero_point.end(), [](int32_t z) { return z == 0; })) {
      // zero point 0: omitted (half a byte per block). Not for int8: ONNX Runtime 1.30 with
      // session.x64quantprecision rewrites int8 DequantizeLinear to uint8 and gives a blocked one without
      // zero point a zero point of the wrong rank, which it then refuses to run.
      inputs.push_back(add_initializer(scale_tensor(p), name + "_scale"));
    } else {
      const auto& [scale, zero_point] = param_names(name);
      inputs.insert(inputs.end(), {scale, zero_point});
    }
    std::string out = names_.unique(name + "_DequantizeLinear_Output");
    onnx::NodeProto& dq =
        add_node("DequantizeLinear", names_.unique(name + "_DequantizeLinear"), std::move(inputs), {out}, format_.domain);
    if (p.per_channel()) {
      auto* axis = dq.add_attribute();
      axis->set_name("axis");
      axis->set_type(onnx::AttributeProto::INT);
      axis->set_i(p.axis);
    }
    if (p.blocked()) {
      auto* block = dq.add_attribute();
      block->set_name("block_size");
      block->set_type(onnx::AttributeProto::INT);
      block->set_i(p.block);
    }
    dq_output_[name] = out;
    uses_qdq_ = true;
  }
}

void Emitter::emit_graph_inputs() {
  for (const auto& in : g_.inputs)
    if (is_activation(in.name)) emit_qdq(in.name);
  for (const auto& name : g_.outer_refs)  // values of enclosing graphs, quantized inside this body
    if (is_activation(name)) emit_qdq(name);
}

// Q → DQ for a computed activation right after it is produced (one pair per reader with
// dedicated_qdq_pairs and several readers: suffixes _1, _2, ... in reader order).
void Emitter::emit_qdq(const std::string& tensor) {
  const bool graph_output = g_.is_graph_output(tensor);
  const std::string q_in = graph_output ? producer_output_.at(tensor) : tensor;
  std::vector<int> readers;
  for (int c : g_.consumers(tensor)) {
    const auto& ins = g_.nodes[static_cast<size_t>(c)].inputs;
    if (!plan_.nodes[static_cast<size_t>(c)].removed && std::find(ins.begin(), ins.end(), tensor) != ins.end())
      readers.push_back(c);
  }
  if (!plan_.options.dedicated_qdq_pairs || readers.size() + (graph_output ? 1 : 0) < 2) {
    dq_output_[tensor] = emit_qdq_pair(tensor, q_in, "", graph_output ? tensor : "");
    return;
  }
  for (size_t k = 0; k < readers.size(); ++k)
    dedicated_dq_[{tensor, readers[k]}] = emit_qdq_pair(tensor, q_in, "_" + std::to_string(k + 1), "");
  if (graph_output) dq_output_[tensor] = emit_qdq_pair(tensor, q_in, "", tensor);
}

// Q(q_in) → DQ with the root's parameters; returns the DQ output (`dq_out` when given).
std::string Emitter::emit_qdq_pair(const std::string& tensor, const std::string& q_in, const std::string& suffix,
                                   const std::string& dq_out) {
  const auto [scale, zero_point] = param_names(root_of(tensor));
  std::string q_out = names_.unique(tensor + "_QuantizeLinear_Output" + suffix);
  std::string out = dq_out.empty() ? names_.unique(tensor + "_DequantizeLinear_Output" + suffix) : dq_out;
  add_node("QuantizeLinear", names_.unique(tensor + "_QuantizeLinear" + suffix), {q_in, scale, zero_point}, {q_out},
           format_.domain);
  add_node("DequantizeLinear", names_.unique(tensor + "_DequantizeLinear" + suffix), {q_out, scale, zero_point}, {out},
           format_.domain);
  uses_qdq_ = true;
  return out;
}

// What node `node` reads for `tensor`: the DQ output of a quantized activation (every reader), of a
// quantized weight/bias (the readers that asked for it), else the float tensor.
std::string Emitter::reader_name(int node, const std::string& tensor) const {
  const TensorPlan* t = planned(tensor);
  if (!t || t->integer) return tensor;
  if (t->kind != Kind::Activation && std::find(t->readers.begin(), t->readers.end(), node) == t->readers.end())
    return tensor;
  auto dedicated = dedicated_dq_.find({tensor, node});
  if (dedicated != dedicated_dq_.end()) return dedicated->second;
  auto it = dq_output_.find(tensor);
  PTQ_CHECK(it != dq_output_.end());
  return it->second;
}

// The name a producer writes for its float output `tensor` (after folding).
std::string Emitter::output_name(const std::string& tensor) const {
  auto r = plan_.renamed.find(tensor);
  return r == plan_.renamed.end() ? tensor : r->second;
}

void Emitter::emit_node(int index) {
  const NodePlan& np = plan_.nodes[static_cast<size_t>(index)];
  if (np.removed) return;
  if (np.integer != IntegerForm::None) return emit_integer_node(index);
  const Node& node = g_.nodes[static_cast<size_t>(index)];
  onnx::NodeProto copy = source_.node(node.proto_index);
  emit_bodies(index, copy);
  for (int j = 0; j < copy.input_size(); ++j)
    if (!copy.input(j).empty()) copy.set_input(j, reader_name(index, copy.input(j)));
  std::vector<std::string> quantized_outputs;
  for (int j = 0; j < copy.output_size(); ++j) {
    if (copy.output(j).empty()) continue;
    std::string name = output_name(copy.output(j));
    if (is_activation(name)) {
      quantized_outputs.push_back(name);
      if (g_.is_graph_output(name)) name = producer_output_[name] = names_.unique(name + "_QuantizeLinear_Input");
    }
    copy.set_output(j, name);
  }
  *out_->add_node() = std::move(copy);
  for (const auto& name : quantized_outputs) emit_qdq(name);
}

// Rewrites the bodies of node `index` (in `copy`, the node's proto) that have something quantized.
void Emitter::emit_bodies(int index, onnx::NodeProto& copy) {
  for (const auto& sp : plan_.subgraphs) {
    if (sp.node != index || sp.plan->quantized_node_count() == 0) continue;
    for (auto& a : *copy.mutable_attribute()) {
      if (a.name() != sp.attr || !a.has_g()) continue;
      const ScopeChain body{g_.nodes[static_cast<size_t>(index)].attrs.at(sp.attr).g.get(), &chain_, sp.scope};
      const onnx::GraphProto source = a.g();
      Emitter nested(source, body, *sp.plan, params_, format_, names_);
      nested.run(*a.mutable_g());
      uses_qdq_ |= nested.uses_qdq();
      uses_ms_domain_ |= nested.uses_ms_domain();
      for (const auto& name : nested.replaced_outer())
        if (!chain_.defines(name)) replaced_outer_.insert(name);
        else body_replaced_.insert(name);
    }
  }
}

// Drops the float weights/Constant nodes that were replaced (or read only by folded Relu/Clip nodes)
// and are no longer read, and value_info
// of tensors that no longer exist (outputs renamed by folding).
void Emitter::remove_unused() {
  std::set<std::string> reads;
  collect_reads(*out_, reads);
  std::set<std::string> replaced = body_replaced_;  // float constants quantized, inputs of folded Relu/Clip (Clip bounds)
  for (const auto& [name, t] : plan_.tensors)
    if (t.constant) replaced.insert(name);
  for (size_t i = 0; i < g_.nodes.size(); ++i)
    if (plan_.nodes[i].removed)
      for (const auto& in : g_.nodes[i].inputs)
        if (g_.is_weight(in)) replaced.insert(in);
  auto dropped = [&](const std::string& name) { return replaced.count(name) && !reads.count(name); };
  onnx::GraphProto& g = *out_;
  erase_if(g.mutable_initializer(), [&](const onnx::TensorProto& t) { return dropped(t.name()); });
  erase_if(g.mutable_input(), [&](const onnx::ValueInfoProto& v) { return dropped(v.name()); });
  erase_if(g.mutable_node(), [&](const onnx::NodeProto& n) {
    return n.op_type() == "Constant" && n.output_size() == 1 && dropped(n.output(0));
  });
  erase_if(g.mutable_value_info(), [&](const onnx::ValueInfoProto& v) { return plan_.renamed.count(v.name()) != 0; });
}

namespace {

// Blocked tables a Gather reads, written as DequantizeLinear → Gather: ONNX Runtime does not fuse the pair and
// dequantizes the whole table on every run; one info line names the largest and the way out.
void note_blocked_tables(const Graph& graph, const QuantPlan& plan) {
  std::string largest;
  int64_t elements = 0;
  size_t count = 0;
  for (const auto& [name, t] : plan.tensors) {
    if (t.kind != TensorPlan::Kind::Weight || t.block == 0 || !graph.weight(name)) continue;
    const bool gathered = std::any_of(t.readers.begin(), t.readers.end(), [&](int r) {
      return r >= 0 && static_cast<size_t>(r) < graph.nodes.size() && graph.nodes[static_cast<size_t>(r)].op_type == "Gather";
    });
    if (!gathered) continue;
    ++count;
    if (graph.weight(name)->numel() > elements) largest = name, elements = graph.weight(name)->numel();
  }
  if (count == 0) return;
  log::info(count, count == 1 ? " blocked table" : " blocked tables", " read by Gather (largest '", largest, "', ", elements,
            " values): ONNX Runtime dequantizes a whole table on every run (it does not fuse DequantizeLinear -> Gather); "
            "--int4-format matmulnbits writes GatherBlockQuantized, which dequantizes the gathered rows only");
}

}  // namespace

onnx::ModelProto rewrite_model(const onnx::ModelProto& model, const Graph& graph, const QuantPlan& plan,
                               const calib::CalibTable& table, onnx_io::DataFileWriter* data_file) {
  PTQ_CHECK(plan.nodes.size() == graph.nodes.size());
  QdqFormat format = choose_format(model, plan);
  std::map<std::string, QParams> params = resolve_params(graph, plan, table);
  onnx::ModelProto source = model;  // upgraded first: converters only add initializers and edit attributes
  if (format.opset > format.from_opset) {
    upgrade_opset(source, format.from_opset, format.opset, [&](const std::string& name) {
      const ValueInfo* vi = graph.info(name);
      return vi && vi->has_shape ? static_cast<int>(vi->dims.size()) : -1;
    });
  }
  onnx::ModelProto out = source;
  Names names(source.graph());
  const ScopeChain top{&graph, nullptr, ""};
  // MatMulNBits packing (to_matmulnbits) reads the blocked weights and scales back from the proto.
  if (plan.options.int4_format == Int4Format::MatMulNBits) data_file = nullptr;
  Emitter emitter(source.graph(), top, plan, params, format, names, data_file);
  emitter.run(*out.mutable_graph());
  const bool nbits = plan.options.int4_format == Int4Format::MatMulNBits && to_matmulnbits(out) > 0;
  if (plan.options.int4_format != Int4Format::MatMulNBits) note_blocked_tables(graph, plan);
  apply_format(out, format, (emitter.uses_qdq() && !format.domain.empty()) || emitter.uses_ms_domain() || nbits);
  validate_quantized_model(out);
  return out;
}

}  // namespace ptq::rewrite
