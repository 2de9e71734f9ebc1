// SPDX-License-Identifier: Apache-2.0
// The channel layout of a tapped tensor for the per-channel statistics (channel_means, channel_absmax):
// which tensors are asked for, along which axis, and how a flat index maps to its channel.
#pragma once

#include <map>
#include <string>

#include "ptq/ir/tensor.h"

namespace ptq::calib {

struct ChannelLayout {
  int64_t channels = 0;
  int64_t inner = 1;  // values per channel run: flat index i is in channel (i / inner) % channels
};

// The layout of `value` when `name` is one of `tensor_axes` (axis negative: from the end) and `value`
// is a float32 tensor that has that axis; false otherwise.
inline bool channel_layout(const std::map<std::string, int>& tensor_axes, const std::string& name, const Tensor& value,
                           ChannelLayout& layout) {
  auto it = tensor_axes.find(name);
  if (it == tensor_axes.end() || value.dtype() != DType::Float32 || value.rank() == 0) return false;
  const int axis = it->second < 0 ? it->second + value.rank() : it->second;
  if (axis < 0 || axis >= value.rank()) return false;
  layout.channels = value.dim(axis);
  layout.inner = 1;
  for (int d = axis + 1; d < value.rank(); ++d) layout.inner *= value.dim(d);
  return true;
}

}  // namespace ptq::calib
