// SPDX-License-Identifier: Apache-2.0
// TensorProto <-> Tensor. raw_data is little-endian; the typed fields follow onnx.proto: int32_data holds
// int32/int16/int8/uint16/uint8/bool/float16/bfloat16, uint64_data holds uint32/uint64.
// int4/uint4 (data types 22/21, which ONNX 1.12's enum lacks): packed two elements a byte, element
// 2k in bits 0-3 and element 2k+1 in bits 4-7, an odd count padded with a zero nibble: raw_data holds
// ceil(n/2) bytes, int32_data ceil(n/2) values, one packed byte each (onnx.proto). In memory ptq
// keeps them unpacked (tensor.h); int4 nibbles are sign-extended when read.
#include <cstring>
#include <limits>
#include <vector>

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

bool is_4bit(DType d) { return d == DType::Int4 || d == DType::UInt4; }

// Checks, before anything is allocated, that the proto holds the data its dims promise: a TensorProto
// whose dims claim billions of elements over a few bytes of data is a ModelError, not an 8 GB
// allocation (found by tests/fuzz/fuzz_model). Also refuses an element count beyond int64.
void check_stored_size(const onnx::TensorProto& proto, DType dtype, const Shape& shape) {
  const std::string& name = proto.name();
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) PTQ_FAIL(ModelError, "tensor '", name, "' has a negative dimension");
    if (d > 0 && numel > std::numeric_limits<int64_t>::max() / 16 / d)
      PTQ_FAIL(ModelError, "tensor '", name, "': shape ", shape_str(shape), " has too many elements");
    numel *= d;
  }
  int64_t values = 0;  // what the proto holds, in the unit it is compared in
  int64_t wanted = numel;
  if (proto.has_raw_data()) {
    values = static_cast<int64_t>(proto.raw_data().size());
    wanted = static_cast<int64_t>(dtype_stored_bytes(dtype, numel));
  } else if (is_4bit(dtype)) {
    values = proto.int32_data_size();
    wanted = static_cast<int64_t>(dtype_stored_bytes(dtype, numel));
  } else {
    switch (dtype) {
      case DType::Float32: values = proto.float_data_size(); break;
      case DType::Float64: values = proto.double_data_size(); break;
      case DType::Int64: values = proto.int64_data_size(); break;
      case DType::UInt32: case DType::UInt64: values = proto.uint64_data_size(); break;
      default: values = proto.int32_data_size(); break;
    }
  }
  if (values == wanted) return;
  if (proto.has_raw_data())
    PTQ_FAIL(ModelError, "tensor '", name, "': raw_data holds ", values, " bytes, shape ", shape_str(shape), " of ",
             dtype_name(dtype), " needs ", wanted);
  PTQ_FAIL(ModelError, "tensor '", name, "': ", values, " values for shape ", shape_str(shape), " of ", dtype_name(dtype),
           ", expected ", wanted);
}

// Packed byte k of `bytes` -> elements 2k and 2k+1 of t (unpacked, sign-extended for int4).
template <class Bytes>
void unpack_4bit(const Bytes& bytes, Tensor& t) {
  uint8_t* out = static_cast<uint8_t*>(t.raw());
  const bool is_signed = t.dtype() == DType::Int4;
  for (int64_t i = 0; i < t.numel(); ++i) {
    uint8_t nibble = static_cast<uint8_t>(static_cast<uint8_t>(bytes[static_cast<size_t>(i / 2)]) >> (i % 2 * 4)) & 0x0f;
    out[i] = is_signed && nibble >= 8 ? static_cast<uint8_t>(nibble | 0xf0) : nibble;  // two's complement int8
  }
}

Tensor tensor_from_4bit(const onnx::TensorProto& proto, Tensor t) {
  const std::string& name = proto.name();
  const size_t packed = dtype_stored_bytes(t.dtype(), t.numel());
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != packed)
      PTQ_FAIL(ModelError, "tensor '", name, "': raw_data holds ", proto.raw_data().size(), " bytes, shape ",
               shape_str(t.shape()), " of ", dtype_name(t.dtype()), " needs ", packed, " (two elements a byte)");
    unpack_4bit(proto.raw_data(), t);
    return t;
  }
  if (static_cast<size_t>(proto.int32_data_size()) != packed)
    PTQ_FAIL(ModelError, "tensor '", name, "': ", proto.int32_data_size(), " int32_data values for shape ", shape_str(t.shape()),
             " of ", dtype_name(t.dtype()), ", expected ", packed, " (two elements a value)");
  std::vector<uint8_t> bytes;
  for (int32_t v : proto.int32_data()) bytes.push_back(static_cast<uint8_t>(v));
  unpack_4bit(bytes, t);
  return t;
}

// Packs t; an element outside the type's range (a ptq bug: nibbles would wrap) is an error.
std::string pack_4bit(const Tensor& t, const std::string& name) {
  std::string bytes(dtype_stored_bytes(t.dtype(), t.numel()), '\0');
  const uint8_t* in = static_cast<const uint8_t*>(t.raw());
  int64_t lo = 0, hi = 0;
  dtype_int_range(t.dtype(), lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int64_t v = t.dtype() == DType::Int4 ? static_cast<int8_t>(in[i]) : in[i];
    if (v < lo || v > hi) PTQ_FAIL(Error, "tensor '", name, "': value ", v, " at index ", i, " is outside the ", dtype_name(t.dtype()), " range");
  }
  for (int64_t i = 0; i < t.numel(); ++i)
    bytes[static_cast<size_t>(i / 2)] = static_cast<char>(static_cast<uint8_t>(bytes[static_cast<size_t>(i / 2)]) | (in[i] & 0x0f) << (i % 2 * 4));
  return bytes;
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
  check_stored_size(proto, dtype, shape);
  Tensor t(dtype, shape);
  if (is_4bit(dtype)) return tensor_from_4bit(proto, std::move(t));
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
  if (is_4bit(tensor.dtype())) proto.set_raw_data(pack_4bit(tensor, name));
  else proto.set_raw_data(static_cast<const char*>(tensor.raw()), tensor.nbytes());
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
