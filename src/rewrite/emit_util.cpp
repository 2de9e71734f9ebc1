// SPDX-License-Identifier: Apache-2.0
// Helpers for writing graphs: the name registry, read-set collection and parameter tensors.
//   scale:      float32, shape [] per-tensor or [C] per-channel
//   zero point: the quantized type, same shape (int32 zeros for biases)
#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

void collect_names(const onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& v : g.input()) out.insert(v.name());
  for (const auto& v : g.output()) out.insert(v.name());
  for (const auto& v : g.value_info()) out.insert(v.name());
  for (const auto& t : g.initializer()) out.insert(t.name());
  for (const auto& n : g.node()) {
    if (!n.name().empty()) out.insert(n.name());
    for (const auto& o : n.output()) out.insert(o);
    for (const auto& i : n.input()) out.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_names(a.g(), out);
      for (const auto& sg : a.graphs()) collect_names(sg, out);
    }
  }
}

}  // namespace

void collect_reads(const onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& n : g.node()) {
    for (const auto& i : n.input()) out.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_reads(a.g(), out);
      for (const auto& sg : a.graphs()) collect_reads(sg, out);
    }
  }
  for (const auto& o : g.output()) out.insert(o.name());
}

Names::Names(const onnx::GraphProto& graph) { collect_names(graph, used_); }

std::string Names::unique(const std::string& base) {
  std::string name = base;
  for (int k = 1; used_.count(name); ++k) name = base + "_" + std::to_string(k);
  used_.insert(name);
  return name;
}

Tensor scale_tensor(const QParams& p) {
  if (p.blocked()) return Tensor::from_vector(p.scale, p.scale_shape);
  if (!p.per_channel()) return Tensor::scalar<float>(p.scale.at(0));
  return Tensor::from_vector(p.scale, {static_cast<int64_t>(p.scale.size())});
}

Tensor zero_point_tensor(const QParams& p) {
  Shape shape = p.blocked() ? p.scale_shape : p.per_channel() ? Shape{static_cast<int64_t>(p.zero_point.size())} : Shape{};
  Tensor z(qtype_dtype(p.type), shape);
  for (size_t i = 0; i < p.zero_point.size(); ++i) {
    const int32_t v = p.zero_point[i];
    switch (p.type) {
      case QType::Int8: z.data<int8_t>()[i] = static_cast<int8_t>(v); break;
      case QType::UInt8: z.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
      case QType::Int16: z.data<int16_t>()[i] = static_cast<int16_t>(v); break;
      case QType::UInt16: z.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
      case QType::Int32: z.data<int32_t>()[i] = v; break;
      case QType::Int4: z.data<int8_t>()[i] = static_cast<int8_t>(v); break;  // unpacked
      case QType::UInt4: z.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
    }
  }
  return z;
}

void set_int_attr(onnx::NodeProto& node, const std::string& name, int64_t v) {
  for (auto& a : *node.mutable_attribute())
    if (a.name() == name) {
      a.set_type(onnx::AttributeProto::INT);
      a.set_i(v);
      return;
    }
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

onnx::ValueInfoProto* declare_like(onnx::GraphProto& gp, const std::string& like, const std::string& name) {
  for (int i = 0, n = gp.value_info_size(); i < n; ++i)
    if (gp.value_info(i).name() == like) {
      onnx::ValueInfoProto v = gp.value_info(i);
      v.set_name(name);
      return &(*gp.add_value_info() = std::move(v));
    }
  return nullptr;
}

void drop_unread_weights(onnx::GraphProto& gp, const Graph& g, const std::set<std::string>& candidates) {
  std::set<std::string> reads;
  collect_reads(gp, reads);
  auto dropped = [&](const std::string& name) { return candidates.count(name) && g.is_weight(name) && !reads.count(name); };
  erase_if(gp.mutable_initializer(), [&](const onnx::TensorProto& t) { return dropped(t.name()); });
  erase_if(gp.mutable_input(), [&](const onnx::ValueInfoProto& v) { return dropped(v.name()); });
  erase_if(gp.mutable_node(), [&](const onnx::NodeProto& n) {
    return n.op_type() == "Constant" && n.output_size() == 1 && dropped(n.output(0));
  });
  erase_if(gp.mutable_value_info(), [&](const onnx::ValueInfoProto& v) { return candidates.count(v.name()) && !reads.count(v.name()); });
}

}  // namespace ptq::rewrite
