// SPDX-License-Identifier: Apache-2.0
// dithered (see dither.h).
#include "ptq/search/dither.h"

#include <cmath>

#include "ptq/util/splitmix.h"

namespace ptq::search {
exec::TensorMap dithered(const exec::TensorMap& inputs, uint64_t seed, const std::set<std::string>& names) {
  exec::TensorMap out;
  uint64_t position = 0;
  const double half_width = std::sqrt(3.0);
  for (const auto& [name, t] : inputs) {
    ++position;
    if (t.dtype() != DType::Float32 || !names.count(name)) {
      out.emplace(name, t);
      continue;
    }
    Tensor d = t.clone();
    uint64_t state = seed ^ (position * 0xd1b54a32d192ed03ull);
    float* x = d.data<float>();
    for (int64_t i = 0; i < d.numel(); ++i) {
      const double u = (static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * half_width;
      x[i] = static_cast<float>(static_cast<double>(x[i]) * (1.0 + kDitherRelative * u));
    }
    out.emplace(name, std::move(d));
  }
  return out;
}

}  // namespace ptq::search
