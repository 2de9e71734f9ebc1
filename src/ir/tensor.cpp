// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/tensor.h"

#include "ptq/ir/buffer_pool.h"

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace ptq {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: case DType::Int32: case DType::UInt32: return 4;
    case DType::UInt8: case DType::Int8: case DType::Bool: case DType::UInt4: case DType::Int4: return 1;
    case DType::UInt16: case DType::Int16: case DType::Float16: case DType::BFloat16: return 2;
    case DType::Int64: case DType::Float64: case DType::UInt64: return 8;
    case DType::Undefined: case DType::String: return 0;
  }
  return 0;
}

int dtype_bits(DType dtype) {
  return dtype == DType::UInt4 || dtype == DType::Int4 ? 4 : static_cast<int>(8 * dtype_size(dtype));
}

size_t dtype_stored_bytes(DType dtype, int64_t numel) {
  return (static_cast<size_t>(numel) * static_cast<size_t>(dtype_bits(dtype)) + 7) / 8;
}

bool dtype_int_range(DType dtype, int64_t& lo, int64_t& hi) {
  switch (dtype) {
    case DType::Int4: lo = -8, hi = 7; return true;
    case DType::UInt4: lo = 0, hi = 15; return true;
    case DType::Int8: lo = -128, hi = 127; return true;
    case DType::UInt8: lo = 0, hi = 255; return true;
    case DType::Int16: lo = -32768, hi = 32767; return true;
    case DType::UInt16: lo = 0, hi = 65535; return true;
    case DType::Int32: lo = -2147483648LL, hi = 2147483647LL; return true;
    case DType::UInt32: lo = 0, hi = 4294967295LL; return true;
    default: return false;
  }
}

std::string dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Undefined: return "undefined";
    case DType::Float32: return "float32";
    case DType::UInt8: return "uint8";
    case DType::Int8: return "int8";
    case DType::UInt16: return "uint16";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::String: return "string";
    case DType::Bool: return "bool";
    case DType::Float16: return "float16";
    case DType::Float64: return "float64";
    case DType::UInt32: return "uint32";
    case DType::UInt64: return "uint64";
    case DType::BFloat16: return "bfloat16";
    case DType::UInt4: return "uint4";
    case DType::Int4: return "int4";
  }
  return "undefined";
}

DType dtype_from_onnx(int t) {
  switch (t) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 8: case 9: case 10: case 11: case 12:
    case 13: case 16: case 21: case 22:
      return static_cast<DType>(t);
    default: return DType::Undefined;
  }
}

bool dtype_is_float(DType d) {
  return d == DType::Float32 || d == DType::Float16 || d == DType::Float64 || d == DType::BFloat16;
}
bool dtype_is_integer(DType d) {
  switch (d) {
    case DType::UInt8: case DType::Int8: case DType::UInt16: case DType::Int16: case DType::Int32:
    case DType::Int64: case DType::UInt32: case DType::UInt64: case DType::UInt4: case DType::Int4: return true;
    default: return false;
  }
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) PTQ_FAIL(Error, "negative dimension in shape ", shape_str(shape));
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {
constexpr size_t kAlignment = 64;
// From the thread's buffer pool when an executor installed one (buffer_pool.h), else the heap.
std::shared_ptr<void> allocate(size_t bytes) {
  if (BufferPool* pool = current_buffer_pool()) return pool->allocate(bytes);
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (!p) PTQ_FAIL(Error, "out of memory allocating ", bytes, " bytes");
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (dtype_size(dtype) == 0) PTQ_FAIL(UnsupportedError, "tensors of dtype ", dtype_name(dtype), " are not supported");
  numel_ = shape_numel(shape_);
  buffer_ = allocate(nbytes());
}

Tensor Tensor::wrap(DType dtype, Shape shape, std::shared_ptr<void> buffer) {
  if (dtype_size(dtype) == 0) PTQ_FAIL(UnsupportedError, "tensors of dtype ", dtype_name(dtype), " are not supported");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = shape_numel(t.shape_);
  t.buffer_ = std::move(buffer);
  return t;
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape_numel(shape) != numel_)
    PTQ_FAIL(Error, "cannot reshape ", shape_str(shape_), " to ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t(dtype_, shape_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

void Tensor::check_type(DType requested) const {
  bool ok = requested == dtype_ ||
            // bool is stored as one byte; uint8_t access is allowed for it.
            (requested == DType::UInt8 && dtype_ == DType::Bool) ||
            // 4-bit types are stored unpacked, one element a byte.
            (requested == DType::UInt8 && dtype_ == DType::UInt4) || (requested == DType::Int8 && dtype_ == DType::Int4) ||
            // float16/bfloat16 are accessed as raw uint16_t.
            (requested == DType::UInt16 && (dtype_ == DType::Float16 || dtype_ == DType::BFloat16));
  if (!ok) PTQ_FAIL(Error, "tensor of dtype ", dtype_name(dtype_), " accessed as ", dtype_name(requested));
}

float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal or zero in half
    if (absx < 0x33000000u) return static_cast<uint16_t>(sign);
    uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
    int shift = 113 - static_cast<int>(absx >> 23) + 13;
    uint32_t half_mant = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1u))) ++half_mant;
    return static_cast<uint16_t>(sign | half_mant);
  }
  uint32_t h = ((absx >> 23) - 112) << 10 | ((absx >> 13) & 0x3ffu);
  uint32_t rem = absx & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float bfloat16_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

template <class Src>
double load_as_double(const Src* p, int64_t i) { return static_cast<double>(p[i]); }

double element_as_double(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::Float32: return t.data<float>()[i];
    case DType::Float64: return t.data<double>()[i];
    case DType::Float16: return half_to_float(t.data<uint16_t>()[i]);
    case DType::BFloat16: return bfloat16_to_float(t.data<uint16_t>()[i]);
    case DType::UInt8: case DType::UInt4: return t.data<uint8_t>()[i];
    case DType::Int8: case DType::Int4: return t.data<int8_t>()[i];
    case DType::UInt16: return t.data<uint16_t>()[i];
    case DType::Int16: return t.data<int16_t>()[i];
    case DType::Int32: return t.data<int32_t>()[i];
    case DType::Int64: return static_cast<double>(t.data<int64_t>()[i]);
    case DType::UInt32: return t.data<uint32_t>()[i];
    case DType::UInt64: return static_cast<double>(t.data<uint64_t>()[i]);
    case DType::Bool: return t.data<uint8_t>()[i] ? 1.0 : 0.0;
    default: PTQ_FAIL(UnsupportedError, "cannot convert from dtype ", dtype_name(t.dtype()));
  }
}

template <class Dst>
void store_all(const Tensor& src, Tensor& dst) {
  Dst* out = dst.data<Dst>();
  for (int64_t i = 0; i < src.numel(); ++i) {
    double v = element_as_double(src, i);
    if constexpr (std::is_integral_v<Dst>) {
      out[i] = std::isfinite(v) ? static_cast<Dst>(static_cast<int64_t>(v)) : Dst(0);
    } else {
      out[i] = static_cast<Dst>(v);
    }
  }
}

// int64 -> int64 and friends must not go through double for large values.
template <class Src, class Dst>
bool copy_integral(const Tensor& src, Tensor& dst) {
  if (src.dtype() != DTypeOf<Src>::value || dst.dtype() != DTypeOf<Dst>::value) return false;
  const Src* in = src.data<Src>();
  Dst* out = dst.data<Dst>();
  for (int64_t i = 0; i < src.numel(); ++i) out[i] = static_cast<Dst>(in[i]);
  return true;
}

}  // namespace

Tensor cast_tensor(const Tensor& t, DType to) {
  if (t.dtype() == to) return t;
  Tensor out(to, t.shape());
  if (copy_integral<int64_t, int32_t>(t, out) || copy_integral<int32_t, int64_t>(t, out) ||
      copy_integral<int64_t, uint64_t>(t, out) || copy_integral<uint64_t, int64_t>(t, out))
    return out;
  switch (to) {
    case DType::Float32: store_all<float>(t, out); break;
    case DType::Float64: store_all<double>(t, out); break;
    case DType::UInt8: store_all<uint8_t>(t, out); break;
    case DType::Int8: store_all<int8_t>(t, out); break;
    case DType::UInt16: store_all<uint16_t>(t, out); break;
    case DType::Int16: store_all<int16_t>(t, out); break;
    case DType::Int32: store_all<int32_t>(t, out); break;
    case DType::Int64: store_all<int64_t>(t, out); break;
    case DType::UInt32: store_all<uint32_t>(t, out); break;
    case DType::UInt64: store_all<uint64_t>(t, out); break;
    case DType::Bool: {
      uint8_t* o = out.data<uint8_t>();
      for (int64_t i = 0; i < t.numel(); ++i) o[i] = element_as_double(t, i) != 0.0;
      break;
    }
    case DType::Float16: {
      uint16_t* o = out.data<uint16_t>();
      for (int64_t i = 0; i < t.numel(); ++i) o[i] = float_to_half(static_cast<float>(element_as_double(t, i)));
      break;
    }
    default: PTQ_FAIL(UnsupportedError, "cannot cast to dtype ", dtype_name(to));
  }
  return out;
}

}  // namespace ptq
