// SPDX-License-Identifier: Apache-2.0
// Shared by the observer tests: the error a range gives on raw values, computed independently of the
// observers (the reference their searches are checked against).
#pragma once

#include <vector>

#include "ptq/quant/scale.h"

namespace ptq::test {

// Mean squared error of fake-quantizing the raw values with the grid compute_qparams makes of `r`.
inline double raw_mse(const std::vector<float>& v, const Range& r, const QuantSpec& spec) {
  QParams p = compute_qparams(r, spec);
  double err = 0.0;
  for (float x : v) {
    double d = static_cast<double>(fake_quantize_value(x, p.scale[0], p.zero_point[0], p.type)) - x;
    err += d * d;
  }
  return err / static_cast<double>(v.size());
}

}  // namespace ptq::test
