// SPDX-License-Identifier: Apache-2.0
// Ops that select positions by value or by place:
//   NonZero: int64 [rank, count] coordinates of the non-zero elements, in C order.
//   Trilu: keeps the lower (upper = 0) or upper (upper = 1, default) triangle of the last two dims,
//     shifted by the diagonal offset k (optional int64 input, default 0): for row i, column j,
//     upper keeps j - i >= k, lower keeps j - i <= k; the rest becomes 0.
#include <cstring>

#include "common.h"
#include "kernels.h"

namespace ptq::exec {

Kernel make_non_zero(const Node& node) {
  expect_inputs(node, 1, 1);
  return [](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor b = cast_tensor(x, DType::Bool);
    const uint8_t* p = b.data<uint8_t>();
    std::vector<int64_t> hits;
    for (int64_t i = 0; i < x.numel(); ++i)
      if (p[i]) hits.push_back(i);
    const int64_t rank = x.rank(), n = static_cast<int64_t>(hits.size());
    Tensor out(DType::Int64, {rank, n});
    int64_t* o = out.data<int64_t>();
    const Shape st = strides_of(x.shape());
    for (int64_t j = 0; j < n; ++j)
      for (int64_t d = 0; d < rank; ++d) o[d * n + j] = hits[static_cast<size_t>(j)] / st[static_cast<size_t>(d)] % x.dim(static_cast<int>(d));
    io.outputs[0] = out;
  };
}

Kernel make_trilu(const Node& node) {
  expect_inputs(node, 1, 2);
  const bool upper = node.attr_int("upper", 1) != 0;
  return [upper](KernelIO& io) {
    const Tensor& x = io.in(0);
    if (x.rank() < 2) PTQ_FAIL(ModelError, "Trilu needs rank >= 2, got ", shape_str(x.shape()));
    const int64_t k = io.has(1) ? read_ints(io.in(1), "k").at(0) : 0;
    const int64_t rows = x.dim(-2), cols = x.dim(-1), mats = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
    Tensor out = Tensor::zeros(x.dtype(), x.shape());
    const size_t elem = dtype_size(x.dtype());
    const char* src = static_cast<const char*>(x.raw());
    char* dst = static_cast<char*>(out.raw());
    for (int64_t m = 0; m < mats; ++m)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          if (upper ? j - i >= k : j - i <= k) {
            const size_t at = static_cast<size_t>((m * rows + i) * cols + j) * elem;
            std::memcpy(dst + at, src + at, elem);
          }
    io.outputs[0] = out;
  };
}

}  // namespace ptq::exec
