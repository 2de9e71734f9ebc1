// SPDX-License-Identifier: Apache-2.0
// top_of_softmax_rows: what a Softmax input's observer sees (calibrator.h, SoftmaxRows). Each row
// (the values along the Softmax axis for fixed other indices; before opset 13, the block of every dim
// from the axis on) is clamped to [m - kSoftmaxWindow, m], m its maximum; NaN stays (the finiteness
// check reports it); a row whose maximum is -inf (fully masked) is left out. Returns the kept values,
// flattened (activations are observed per tensor).
#include <cmath>
#include <limits>

#include "target_observer.h"

namespace ptq::calib {

Tensor top_of_softmax_rows(const Tensor& x, const SoftmaxRows& rows) {
  const int rank = x.rank();
  if (rank == 0 || x.numel() == 0) return x;
  int axis = rows.axis < 0 ? rows.axis + rank : rows.axis;
  if (axis < 0 || axis >= rank) axis = rank - 1;  // the shape inference of the planner said otherwise: last axis
  int64_t outer = 1, length = 1, inner = 1;
  for (int d = 0; d < rank; ++d) (d < axis ? outer : d == axis || (rows.flatten && d > axis) ? length : inner) *= x.dim(d);
  const float* p = x.data<float>();
  std::vector<float> kept;
  kept.reserve(static_cast<size_t>(x.numel()));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* row = p + o * length * inner + i;
      float top = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < length; ++j) top = std::fmax(top, row[j * inner]);
      if (top == -std::numeric_limits<float>::infinity()) continue;
      const float floor = top - kSoftmaxWindow;
      for (int64_t j = 0; j < length; ++j) {
        const float v = row[j * inner];
        kept.push_back(std::isnan(v) ? v : std::fmax(v, floor));
      }
    }
  return Tensor::from_vector<float>(kept, {static_cast<int64_t>(kept.size())});
}

}  // namespace ptq::calib
