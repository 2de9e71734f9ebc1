// SPDX-License-Identifier: Apache-2.0
// fp16 models: ptq calibrates, quantizes and evaluates in float32, and gives the written model back its
// float16 inputs and outputs.
//
// float16_to_float32 (before everything else):  every float16 initializer and Constant node value
//   becomes float32 (exactly: each half is a float), float16 graph inputs, outputs and value_info
//   become float32, Cast nodes to float16 cast to float32; in bodies too. Quantized weights then come
//   from the model's own fp16 values, and every activation is observed in float32.
// restore_float16_io (on the written model):  for each graph input that was float16, the input is
//   float16 again and a Cast "<x>_float32" (to float32) feeds its readers; for each output that was
//   float16, its producer writes "<y>_float32" and a Cast to float16 writes y. So the quantized model
//   takes and returns what the fp16 model did, and inside runs int8 Q/DQ in float32 (the weights left
//   float stay float32: twice their fp16 size).
#include <algorithm>

#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "../rewrite_internal.h"

namespace ptq::rewrite {
namespace {

constexpr int kF16 = onnx::TensorProto::FLOAT16, kF32 = onnx::TensorProto::FLOAT;

bool widen_tensor(onnx::TensorProto& t) {
  if (t.data_type() != kF16) return false;
  t = onnx_io::tensor_to_proto(cast_tensor(onnx_io::tensor_from_proto(t), DType::Float32), t.name());
  return true;
}

bool widen_value_info(onnx::ValueInfoProto& vi) {
  if (!vi.type().has_tensor_type() || vi.type().tensor_type().elem_type() != kF16) return false;
  vi.mutable_type()->mutable_tensor_type()->set_elem_type(kF32);
  return true;
}

size_t widen_graph(onnx::GraphProto& g) {
  size_t changed = 0;
  for (auto& t : *g.mutable_initializer()) changed += widen_tensor(t);
  for (auto* list : {g.mutable_input(), g.mutable_output(), g.mutable_value_info()})
    for (auto& vi : *list) changed += widen_value_info(vi);
  for (auto& n : *g.mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) changed += widen_tensor(*a.mutable_t());
      if (a.has_g()) changed += widen_graph(*a.mutable_g());
      for (auto& sg : *a.mutable_graphs()) changed += widen_graph(sg);
      if (n.op_type() == "Cast" && n.domain().empty() && a.name() == "to" && a.i() == kF16) {
        a.set_i(kF32);
        ++changed;
      }
    }
  }
  return changed;
}

}  // namespace

Float16Result float16_to_float32(const onnx::ModelProto& model) {
  Float16Result r;
  for (const auto& vi : model.graph().input())
    if (vi.type().tensor_type().elem_type() == kF16) r.inputs.push_back(vi.name());
  for (const auto& vi : model.graph().output())
    if (vi.type().tensor_type().elem_type() == kF16) r.outputs.push_back(vi.name());
  r.model = model;
  r.changed = widen_graph(*r.model.mutable_graph());
  return r;
}

void restore_float16_io(onnx::ModelProto& model, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  onnx::GraphProto& g = *model.mutable_graph();
  Names names(g);
  auto cast = [](const std::string& in, const std::string& out, int to) {
    onnx::NodeProto n;
    n.set_op_type("Cast");
    n.set_name(out + "_Cast");
    n.add_input(in);
    n.add_output(out);
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name("to");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(to);
    return n;
  };
  std::vector<onnx::NodeProto> head;
  for (const auto& x : inputs) {
    const std::string wide = names.unique(x + "_float32");
    for (auto& n : *g.mutable_node())
      for (auto& in : *n.mutable_input())
        if (in == x) in = wide;
    for (auto& vi : *g.mutable_input())
      if (vi.name() == x) vi.mutable_type()->mutable_tensor_type()->set_elem_type(kF16);
    head.push_back(cast(x, wide, kF32));
  }
  for (const auto& y : outputs) {
    const std::string wide = names.unique(y + "_float32");
    for (auto& n : *g.mutable_node()) {
      for (auto& out : *n.mutable_output())
        if (out == y) out = wide;
      for (auto& in : *n.mutable_input())
        if (in == y) in = wide;
    }
    for (auto& vi : *g.mutable_output())
      if (vi.name() == y) vi.mutable_type()->mutable_tensor_type()->set_elem_type(kF16);
    *g.add_node() = cast(wide, y, kF16);
  }
  // The input Casts go first, so the node list stays topologically sorted.
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& n : head) *nodes.Add() = std::move(n);
  for (auto& n : *g.mutable_node()) *nodes.Add() = std::move(n);
  g.mutable_node()->Swap(&nodes);
  erase_if(g.mutable_value_info(), [&](const onnx::ValueInfoProto& vi) {
    return std::find(inputs.begin(), inputs.end(), vi.name()) != inputs.end() ||
           std::find(outputs.begin(), outputs.end(), vi.name()) != outputs.end();
  });
}

}  // namespace ptq::rewrite
