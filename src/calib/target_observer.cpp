// SPDX-License-Identifier: Apache-2.0
// TargetObserver (see target_observer.h).
#include "target_observer.h"

#include <algorithm>
#include <cmath>

#include "extremes.h"
#include "ptq/quant/scale.h"

namespace ptq::calib {
namespace {

// The tensor as float32 (shared buffer when it already is); DataError for non-float tensors.
Tensor as_float(const Tensor& value, const std::string& name) {
  if (value.dtype() == DType::Float32) return value;
  if (!dtype_is_float(value.dtype()))
    PTQ_FAIL(DataError, "tensor '", name, "' is ", dtype_name(value.dtype()), "; only float tensors can be calibrated");
  return cast_tensor(value, DType::Float32);
}

// A weight's non-finite value is the model's fault; an activation's, the data's.
void check_finite(const float* x, int64_t n, const CalibTarget& target) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(x[i])) continue;
    if (target.is_weight) PTQ_FAIL(ModelError, "weight '", target.tensor, "' holds a non-finite value at index ", i);
    PTQ_FAIL(DataError, "tensor '", target.tensor, "' has a non-finite value (", x[i], ") at flat index ", i);
  }
}

}  // namespace

TargetObserver::TargetObserver(CalibTarget target, ObserverFactory make, const ObserverConfig& config)
    : target_(std::move(target)), make_(make), config_(config) {
  config_.spec = target_.spec;
  config_.gain = target_.gain;
  if (target_.axis < -1) PTQ_FAIL(UsageError, "tensor '", target_.tensor, "': bad per-channel axis ", target_.axis);
  const auto probe = make_(config_);
  order_independent_ = probe->order_independent();
  extremes_only_ = probe->extremes_only();
}

void TargetObserver::create_channels(const Tensor& value) {
  int64_t channels = 1;
  if (target_.axis >= 0) {
    if (target_.axis >= value.rank())
      PTQ_FAIL(DataError, "tensor '", target_.tensor, "': per-channel axis ", target_.axis, " but the tensor has shape ",
               shape_str(value.shape()));
    channels = target_.block > 0 ? shape_numel(blocked_scale_shape(value.shape(), target_.axis, target_.block))
                                 : value.shape()[static_cast<size_t>(target_.axis)];
    shape_ = value.shape();
  }
  if (!channels_.empty()) {
    if (static_cast<int64_t>(channels_.size()) != channels)
      PTQ_FAIL(DataError, "tensor '", target_.tensor, "': ", channels, " channels along axis ", target_.axis,
               ", earlier samples had ", channels_.size());
    return;
  }
  for (int64_t c = 0; c < channels; ++c) channels_.push_back(make_(config_));
  min_.assign(static_cast<size_t>(channels), 0.0f);
  max_.assign(static_cast<size_t>(channels), 0.0f);
}

void TargetObserver::observe(const Tensor& value) {
  Tensor t = as_float(value, target_.tensor);
  if (target_.softmax.on && target_.axis < 0) t = top_of_softmax_rows(t, target_.softmax);
  const float* x = t.data<float>();
  create_channels(t);
  if (target_.block > 0) {
    check_finite(x, t.numel(), target_);
    return observe_blocks(t);
  }
  const size_t channels = channels_.size();
  int64_t inner = 1;
  for (int d = target_.axis + 1; target_.axis >= 0 && d < t.rank(); ++d) inner *= t.shape()[static_cast<size_t>(d)];
  if (t.numel() > 0) {
    const int64_t per_channel = t.numel() / static_cast<int64_t>(channels), outer = per_channel / std::max<int64_t>(inner, 1);
    if (channels > 1 && inner == 1 && extremes_only_) {
      observe_columns(t, outer);
    } else if (channels == 1 || outer == 1) {  // each channel is one run of x
      for (size_t c = 0; c < channels; ++c) observe_run(c, x + static_cast<int64_t>(c) * per_channel, static_cast<size_t>(per_channel), t);
    } else {
      observe_gathered(t, outer, inner);
    }
  }
  if (t.numel() > 0) seen_ = true;
}

// Channels spread over x: gathered a group at a time (about 1M values, read row by row), so that a
// weight whose channels lie along its last axis is read in order, not once per channel with a stride.
void TargetObserver::observe_gathered(const Tensor& t, int64_t outer, int64_t inner) {
  const float* x = t.data<float>();
  const size_t channels = channels_.size();
  const int64_t per_channel = outer * inner;
  const size_t group = std::max<size_t>(1, static_cast<size_t>((int64_t{1} << 20) / per_channel));
  for (size_t c0 = 0; c0 < channels; c0 += group) {
    const size_t c1 = std::min(channels, c0 + group);
    // channel c: `outer` runs of `inner` values, to scratch_[(c - c0) · outer · inner ...]
    scratch_.resize(static_cast<size_t>(per_channel) * (c1 - c0));
    if (inner == 1) {  // channels along the last axis: a transpose, in tiles of 32 rows
      constexpr int64_t kTile = 32;
      for (int64_t o0 = 0; o0 < outer; o0 += kTile) {
        const int64_t o1 = std::min(outer, o0 + kTile);
        for (size_t c = c0; c < c1; ++c) {
          float* to = scratch_.data() + static_cast<int64_t>(c - c0) * per_channel;
          for (int64_t o = o0; o < o1; ++o) to[o] = x[o * static_cast<int64_t>(channels) + static_cast<int64_t>(c)];
        }
      }
    } else {
      for (int64_t o = 0; o < outer; ++o)
        for (size_t c = c0; c < c1; ++c) {
          const float* from = x + (o * static_cast<int64_t>(channels) + static_cast<int64_t>(c)) * inner;
          std::copy(from, from + inner, scratch_.begin() + static_cast<int64_t>(c - c0) * per_channel + o * inner);
        }
    }
    for (size_t c = c0; c < c1; ++c)
      observe_run(c, scratch_.data() + static_cast<int64_t>(c - c0) * per_channel, static_cast<size_t>(per_channel), t);
  }
}

// Channel c's values (of tensor t) to its observer, with their extremes (also kept for the table).
void TargetObserver::observe_run(size_t c, const float* run, size_t n, const Tensor& t) {
  if (n == 0) return;
  float lo, hi;  // one read for the extremes and the finiteness check
  if (!scan_extremes(run, n, lo, hi)) check_finite(t.data<float>(), t.numel(), target_);  // throws, naming the flat index
  add_extremes(c, n, lo, hi, run);
}

void TargetObserver::add_extremes(size_t c, size_t n, float lo, float hi, const float* run) {
  min_[c] = seen_ ? std::min(min_[c], lo) : lo;
  max_[c] = seen_ ? std::max(max_[c], hi) : hi;
  channels_[c]->observe_with_extremes(run, n, lo, hi);
}

// Channels along the last axis for observers that need only the extremes (minmax): per-channel min and
// max row by row, the rows read in order, nothing transposed.
void TargetObserver::observe_columns(const Tensor& t, int64_t outer) {
  const float* x = t.data<float>();
  const size_t channels = channels_.size();
  std::vector<float> lo(x, x + channels), hi(x, x + channels);
  int nan = 0;
  for (int64_t o = 0; o < outer; ++o) {
    const float* row = x + o * static_cast<int64_t>(channels);
    for (size_t c = 0; c < channels; ++c) {
      const float v = row[c];
      nan |= v != v;
      lo[c] = v < lo[c] ? v : lo[c];
      hi[c] = v > hi[c] ? v : hi[c];
    }
  }
  for (size_t c = 0; c < channels; ++c) {
    if (nan || !std::isfinite(lo[c]) || !std::isfinite(hi[c])) check_finite(x, t.numel(), target_);  // throws
    add_extremes(c, static_cast<size_t>(outer), lo[c] == 0.0f ? 0.0f : lo[c], hi[c] == 0.0f ? 0.0f : hi[c], nullptr);
  }
}

// Blocked: observer (o·blocks + b)·inner + j sees elements a of block b along the axis at (o, ·, j).
void TargetObserver::observe_blocks(const Tensor& t) {
  const float* x = t.data<float>();
  const int axis = target_.axis;
  const int64_t dim = t.dim(axis), block = target_.block, blocks = (dim + block - 1) / block;
  int64_t inner = 1;
  for (int d = axis + 1; d < t.rank(); ++d) inner *= t.dim(d);
  const int64_t outer = t.numel() / (dim * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t j = 0; j < inner; ++j) {
        scratch_.clear();
        for (int64_t a = b * block; a < std::min(dim, (b + 1) * block); ++a) scratch_.push_back(x[(o * dim + a) * inner + j]);
        const size_t c = static_cast<size_t>((o * blocks + b) * inner + j);
        auto mm = std::minmax_element(scratch_.begin(), scratch_.end());
        min_[c] = seen_ ? std::min(min_[c], *mm.first) : *mm.first;
        max_[c] = seen_ ? std::max(max_[c], *mm.second) : *mm.second;
        channels_[c]->observe_with_extremes(scratch_.data(), scratch_.size(), *mm.first, *mm.second);
      }
  if (t.numel() > 0) seen_ = true;
}

TensorCalib TargetObserver::finish(const std::string& method) const {
  TensorCalib tc;
  tc.tensor = target_.tensor;
  tc.method = method;
  tc.min = min_;
  tc.max = max_;
  for (const auto& obs : channels_) tc.range.push_back(obs->compute_range());
  if (tc.range.empty()) tc.range.push_back(Range{});
  if (tc.min.empty()) tc.min.assign(tc.range.size(), 0.0f), tc.max.assign(tc.range.size(), 0.0f);
  try {
    tc.qparams = target_.axis >= 0 ? compute_qparams(tc.range, target_.spec, target_.axis)
                                   : compute_qparams(tc.range[0], target_.spec);
    if (target_.block > 0) {
      tc.qparams.block = target_.block;
      tc.qparams.scale_shape = blocked_scale_shape(shape_, target_.axis, target_.block);
    }
  } catch (Error& e) {
    e.append_context("tensor '" + target_.tensor + "'");
    throw;
  }
  return tc;
}

}  // namespace ptq::calib
