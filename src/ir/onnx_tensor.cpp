// SPDX-License-Identifier: Apache-2.0
// TensorProto <-> Tensor. raw_data is little-endian; the typed fields follow onnx.proto: int32_data holds
// int32/int16/int8/uint16/uint8/bool/float16/bfloat16, uint64_data holds uint32/uint64.
#include <cstring>

#include "ptq/ir/onnx_io.h"

namespace ptq::onnx_io {
namespace {

template <class Dst, class Field>
void copy_field(const Field& field, Tensor& t, const std::string& name) {
  if (static_cast<int64_t>(field.size()) != t.numel())
    PTQ_FAIL(ModelError, "tensor '", name, "': ", field.size(), " values for shape ", shape_str(t.shape()));
  Dst* out = static_cast<Dst*>(t.raw());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = static_cast<Dst>(field.Get(static_cast<int>(i)));
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& proto) {
  const std::string& name = proto.name();
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    PTQ_FAIL(ModelError, "tensor '", name, "' refers to external data that was not loaded");
  DType dtype = dtype_from_onnx(proto.data_type());
  if (dtype == DType::Undefined || dtype == DType::String)
    PTQ_FAIL(UnsupportedError, "tensor '", name, "' has unsupported data type ", proto.data_type());
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t d : shape)
    if (d < 0) PTQ_FAIL(ModelError, "tensor '", name, "' has a negative dimension");
  Tensor t(dtype, shape);
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != t.nbytes())
      PTQ_FAIL(ModelError, "tensor '", name, "': raw_data holds ", proto.raw_data().size(), " bytes, shape ",
               shape_str(shape), " of ", dtype_name(dtype), " needs ", t.nbytes());
    std::memcpy(t.raw(), proto.raw_data().data(), t.nbytes());
    return t;
  }
  switch (dtype) {
    case DType::Float32: copy_field<float>(proto.float_data(), t, name); break;
    case DType::Float64: copy_field<double>(proto.double_data(), t, name); break;
    case DType::Int64: copy_field<int64_t>(proto.int64_data(), t, name); break;
    case DType::Int32: copy_field<int32_t>(proto.int32_data(), t, name); break;
    case DType::Int16: copy_field<int16_t>(proto.int32_data(), t, name); break;
    case DType::Int8: copy_field<int8_t>(proto.int32_data(), t, name); break;
    case DType::UInt16: case DType::Float16: case DType::BFloat16:
      copy_field<uint16_t>(proto.int32_data(), t, name);
      break;
    case DType::UInt8: case DType::Bool: copy_field<uint8_t>(proto.int32_data(), t, name); break;
    case DType::UInt32: copy_field<uint32_t>(proto.uint64_data(), t, name); break;
    case DType::UInt64: copy_field<uint64_t>(proto.uint64_data(), t, name); break;
    default: PTQ_FAIL(UnsupportedError, "tensor '", name, "' has unsupported data type ", dtype_name(dtype));
  }
  return t;
}

onnx::TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name) {
  onnx::TensorProto proto;
  proto.set_name(name);
  proto.set_data_type(static_cast<int>(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  proto.set_raw_data(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return proto;
}

void for_each_tensor(onnx::GraphProto& graph, const std::function<void(onnx::TensorProto&)>& fn) {
  for (auto& t : *graph.mutable_initializer()) fn(t);
  for (auto& st : *graph.mutable_sparse_initializer()) {
    fn(*st.mutable_values());
    fn(*st.mutable_indices());
  }
  for (auto& node : *graph.mutable_node()) {
    for (auto& attr : *node.mutable_attribute()) {
      if (attr.has_t()) fn(*attr.mutable_t());
      for (auto& t : *attr.mutable_tensors()) fn(t);
      if (attr.has_g()) for_each_tensor(*attr.mutable_g(), fn);
      for (auto& g : *attr.mutable_graphs()) for_each_tensor(g, fn);
    }
  }
}

int64_t default_opset(const onnx::ModelProto& model) {
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") return op.version();
  return 0;
}

}  // namespace ptq::onnx_io
