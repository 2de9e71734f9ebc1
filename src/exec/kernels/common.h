// SPDX-License-Identifier: Apache-2.0
// Helpers shared by kernel families: dtype dispatch over a list of C++ types, dispatch by element
// size for data-movement kernels (which only copy bytes), axis normalization, reading small integer
// tensors (shapes, axes, pads) that ONNX passes as int32 or int64 inputs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ptq/exec/kernel.h"
#include "parallel.h"

namespace ptq::exec {

template <class... Ts>
struct Types {};
using FloatTypes = Types<float, double>;
using SignedTypes = Types<float, double, int8_t, int16_t, int32_t, int64_t>;
using IntegerTypes = Types<int8_t, uint8_t, int16_t, uint16_t, int32_t, int64_t, uint32_t, uint64_t>;
using NumericTypes = Types<float, double, int8_t, uint8_t, int16_t, uint16_t, int32_t, int64_t, uint32_t, uint64_t>;

// Calls f(T{}) for the C++ type T of `dtype` among Ts; throws UnsupportedError for other dtypes.
template <class... Ts, class F>
void dispatch(DType dtype, Types<Ts...>, F&& f) {
  bool done = ((dtype == DTypeOf<Ts>::value && (f(Ts{}), true)) || ...);
  if (!done) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(dtype), " is not supported");
}

// Calls f(U{}) with an unsigned integer type of the element size of `dtype` (1, 2, 4 or 8 bytes):
// for kernels that move elements without looking at them.
template <class F>
void dispatch_bytes(DType dtype, F&& f) {
  switch (dtype_size(dtype)) {
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    case 8: f(uint64_t{}); break;
    default: PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(dtype), " is not supported");
  }
}

// Element pointer of a tensor as a same-size unsigned type (for dispatch_bytes kernels).
template <class U>
U* raw_as(Tensor& t) {
  PTQ_CHECK(dtype_size(t.dtype()) == sizeof(U));
  return static_cast<U*>(t.raw());
}
template <class U>
const U* raw_as(const Tensor& t) {
  PTQ_CHECK(dtype_size(t.dtype()) == sizeof(U));
  return static_cast<const U*>(t.raw());
}

// axis in [-rank, rank) -> [0, rank); throws ModelError naming `what` otherwise.
int normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

// Values of a 0-D or 1-D int32/int64 tensor; throws ModelError naming `what` for other dtypes.
Shape read_ints(const Tensor& t, const char* what);
// Gather-style indices (any shape, int32/int64) as offsets in [0, d): negative ones count from the end;
// out-of-range ones throw DataError naming `axis`.
std::vector<int64_t> read_indices(const Tensor& ind, int64_t d, int axis);
// Element `index` of a run of `bits`-bit unsigned fields starting at `base`, low bits first: the packing
// of ONNX Runtime's MatMulNBits and GatherBlockQuantized (4 bits: byte index/2, the low nibble first).
inline int packed_field(const uint8_t* base, int64_t index, int64_t bits) {
  return (base[index * bits / 8] >> (index * bits % 8)) & ((1 << bits) - 1);
}
// First element of a numeric tensor as double (scalars such as Clip bounds, Range limits).
double read_scalar(const Tensor& t, const char* what);

// C-order strides (in elements) of a shape.
Shape strides_of(const Shape& shape);

// Elements one task of a copy moves (strided_copy, Concat): tasks split by shape only.
constexpr int64_t kCopyTaskElements = 16384;

// Contiguous copies run as parallel_for tasks (Concat): each added copy is cut into pieces of at most
// kCopyTaskElements elements of `elem` bytes.
class CopyPieces {
 public:
  void add(const void* src, void* dst, int64_t bytes, size_t elem);
  void run(int threads) const;
  void clear() {
    pieces_.clear();
    bytes_ = 0;
  }

 private:
  struct Piece {
    const char* src;
    char* dst;
    int64_t bytes;
  };
  std::vector<Piece> pieces_;
  int64_t bytes_ = 0;
};

// Copies a strided view into a contiguous buffer: out[i0..ik] = in[base + sum_j i_j * stride[j]]
// for i_j < dims[j], in C order (strides may be negative or zero), in tasks of whole rows of about
// kCopyTaskElements elements on up to `threads` threads (parallel.h: small copies run inline).
template <class U>
void strided_copy(const U* in, int64_t base, U* out, const Shape& dims, const Shape& stride, int threads = 1) {
  const size_t r = dims.size();
  if (r == 0) {
    out[0] = in[base];
    return;
  }
  const int64_t n = dims[r - 1], s = stride[r - 1];
  int64_t rows = 1;
  for (size_t j = 0; j + 1 < r; ++j) rows *= dims[j];
  if (rows == 0 || n == 0) return;
  const int64_t rows_per_task = std::max<int64_t>(1, kCopyTaskElements / n);
  parallel_for(threads, ceil_div(rows, rows_per_task), [&](int64_t task) {
    const int64_t first = task * rows_per_task, last = std::min(rows, first + rows_per_task);
    Shape idx(r, 0);  // the outer index of row `first` (the last outer dim fastest)
    int64_t at = base;
    for (int64_t j = static_cast<int64_t>(r) - 2, rest = first; j >= 0; --j) {
      idx[static_cast<size_t>(j)] = rest % dims[static_cast<size_t>(j)];
      rest /= dims[static_cast<size_t>(j)];
      at += idx[static_cast<size_t>(j)] * stride[static_cast<size_t>(j)];
    }
    U* dst = out + first * n;
    for (int64_t row = first; row < last; ++row) {
      const U* src = in + at;
      if (s == 1) {
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
      } else {
        for (int64_t i = 0; i < n; ++i) dst[i] = src[i * s];
      }
      dst += n;
      for (size_t j = r - 1; j-- > 0;) {  // odometer over the outer dims
        at += stride[j];
        if (++idx[j] < dims[j]) break;
        at -= stride[j] * dims[j];
        idx[j] = 0;
      }
    }
  }, rows * n);
}

// Transposed copy: out.shape[j] = x.shape[perm[j]] (transpose.cpp).
Tensor permute(const Tensor& x, const std::vector<int>& perm);

}  // namespace ptq::exec
