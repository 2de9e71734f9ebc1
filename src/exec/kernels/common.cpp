// SPDX-License-Identifier: Apache-2.0
// Shared kernel helpers (see common.h).
#include "common.h"

namespace ptq::exec {

int normalize_axis(int64_t axis, int64_t rank, const char* what) {
  if (axis < -rank || axis >= rank) PTQ_FAIL(ModelError, what, " ", axis, " is out of range for rank ", rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Shape read_ints(const Tensor& t, const char* what) {
  if (t.rank() > 1) PTQ_FAIL(ModelError, what, " must be a scalar or 1-D tensor, got shape ", shape_str(t.shape()));
  Shape out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::Int64) {
    const int64_t* p = t.data<int64_t>();
    out.assign(p, p + t.numel());
  } else if (t.dtype() == DType::Int32) {
    const int32_t* p = t.data<int32_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  } else {
    PTQ_FAIL(ModelError, what, " must be int64 or int32, got ", dtype_name(t.dtype()));
  }
  return out;
}

std::vector<int64_t> read_indices(const Tensor& ind, int64_t d, int axis) {
  std::vector<int64_t> idx(read_ints(ind.reshaped({ind.numel()}), "indices"));
  for (int64_t& j : idx) {
    const int64_t k = j < 0 ? j + d : j;
    if (k < 0 || k >= d) PTQ_FAIL(DataError, "index ", j, " is out of range for axis ", axis, " of size ", d);
    j = k;
  }
  return idx;
}

double read_scalar(const Tensor& t, const char* what) {
  if (t.numel() != 1) PTQ_FAIL(ModelError, what, " must hold one value, got shape ", shape_str(t.shape()));
  return cast_tensor(t, DType::Float64).data<double>()[0];
}

Shape strides_of(const Shape& shape) {
  Shape s(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

void CopyPieces::add(const void* src, void* dst, int64_t bytes, size_t elem) {
  const int64_t most = kCopyTaskElements * static_cast<int64_t>(elem);
  for (int64_t b = 0; b < bytes; b += most)
    pieces_.push_back({static_cast<const char*>(src) + b, static_cast<char*>(dst) + b, std::min(most, bytes - b)});
  bytes_ += bytes;
}

void CopyPieces::run(int threads) const {
  parallel_for(threads, static_cast<int64_t>(pieces_.size()), [&](int64_t i) {
    const Piece& p = pieces_[static_cast<size_t>(i)];
    std::memcpy(p.dst, p.src, static_cast<size_t>(p.bytes));
  }, bytes_ / 4);
}

}  // namespace ptq::exec
