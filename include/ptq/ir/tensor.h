// SPDX-License-Identifier: Apache-2.0
// Tensor: dtype, shape and a contiguous, 64-byte aligned, reference-counted buffer (C order).
// Copies share the buffer; clone() copies the data. DType values equal ONNX TensorProto.DataType.
// 4-bit types (UInt4, Int4) are kept unpacked in memory: one element per byte, read and written as
// uint8_t / int8_t (data<uint8_t>() / data<int8_t>()), each value within [0, 15] / [-8, 7]. Only the
// ONNX serialization packs them, two elements a byte (onnx_io::tensor_to_proto / tensor_from_proto).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ptq/ir/shape.h"
#include "ptq/util/error.h"

namespace ptq {

enum class DType : int {
  Undefined = 0,
  Float32 = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Float64 = 11,
  UInt32 = 12,
  UInt64 = 13,
  BFloat16 = 16,
  UInt4 = 21,  // unpacked: one uint8_t per element
  Int4 = 22,   // unpacked: one int8_t per element
};


// Bytes per element in memory (1 for the unpacked 4-bit types); 0 for Undefined and String.
size_t dtype_size(DType dtype);
// Bits per element as ONNX stores it (4 for UInt4/Int4, else 8 · dtype_size).
int dtype_bits(DType dtype);
// Bytes `numel` elements take in an ONNX file (raw_data): 4-bit types packed two a byte, rounded up.
size_t dtype_stored_bytes(DType dtype, int64_t numel);
// Value range of an integer type of at most 32 bits (int4 [-8, 7], uint8 [0, 255], ...); false for
// other types.
bool dtype_int_range(DType dtype, int64_t& lo, int64_t& hi);
// Lower-case name as in numpy/ONNX Runtime ("float32", "uint8", ...).
std::string dtype_name(DType dtype);
// DType from an ONNX TensorProto.DataType value; Undefined when unknown.
DType dtype_from_onnx(int onnx_type);
bool dtype_is_float(DType dtype);
bool dtype_is_integer(DType dtype);

template <class T>
struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::Float32; };
template <> struct DTypeOf<double> { static constexpr DType value = DType::Float64; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct DTypeOf<int8_t> { static constexpr DType value = DType::Int8; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::UInt16; };
template <> struct DTypeOf<int16_t> { static constexpr DType value = DType::Int16; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct DTypeOf<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct DTypeOf<uint32_t> { static constexpr DType value = DType::UInt32; };
template <> struct DTypeOf<uint64_t> { static constexpr DType value = DType::UInt64; };
template <> struct DTypeOf<bool> { static constexpr DType value = DType::Bool; };

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[1,3,224,224]"

class Tensor {
 public:
  Tensor() = default;
  // Uninitialized buffer of numel(shape) elements.
  Tensor(DType dtype, Shape shape);
  static Tensor zeros(DType dtype, Shape shape);
  template <class T>
  static Tensor scalar(T value) {
    Tensor t(DTypeOf<T>::value, {});
    *t.data<T>() = value;
    return t;
  }
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, Shape shape);
  // A tensor over memory it does not own (a file mapping): `buffer` points at the first element,
  // 64-byte aligned, and keeps that memory alive (an aliasing shared_ptr of the mapping).
  static Tensor wrap(DType dtype, Shape shape, std::shared_ptr<void> buffer);

  bool defined() const { return dtype_ != DType::Undefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i < 0 ? i + rank() : i)); }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }

  void* raw() { return buffer_.get(); }
  const void* raw() const { return buffer_.get(); }
  template <class T>
  T* data() {
    check_type(DTypeOf<T>::value);
    return static_cast<T*>(buffer_.get());
  }
  template <class T>
  const T* data() const {
    check_type(DTypeOf<T>::value);
    return static_cast<const T*>(buffer_.get());
  }
  template <class T>
  std::vector<T> to_vector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + numel_);
  }

  // Same buffer, another shape with the same element count.
  Tensor reshaped(Shape shape) const;
  // Deep copy.
  Tensor clone() const;
  // True when both tensors share one buffer.
  bool shares_buffer(const Tensor& other) const { return buffer_ && buffer_ == other.buffer_; }

 private:
  void check_type(DType requested) const;

  DType dtype_ = DType::Undefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> buffer_;
};

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, Shape shape) {
  Tensor t(DTypeOf<T>::value, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel())
    PTQ_FAIL(Error, "from_vector: ", values.size(), " values for shape ", shape_str(t.shape()));
  T* p = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

// IEEE half <-> float.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);
float bfloat16_to_float(uint16_t h);

// Converts any numeric tensor to another numeric dtype (ONNX Cast semantics: float->int truncates
// toward zero; saturation is not applied).
Tensor cast_tensor(const Tensor& t, DType to);

}  // namespace ptq
