// SPDX-License-Identifier: Apache-2.0
// HistogramObserver (see histogram.h).
#include "histogram.h"

#include "window_search.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace ptq::calib {

void HistogramObserver::begin_pass(int pass) {
  pass_ = pass;
  if (pass != 1) return;
  counts_.assign(kHistogramBins, 0.0);
  double hi;
  if (kind_ == HistogramKind::Absolute) {
    lo_ = 0.0;
    hi = observed_absmax();
  } else if (kind_ == HistogramKind::Spanning) {
    lo_ = std::min(min_, 0.0f);
    hi = std::max(max_, 0.0f);
  } else {
    lo_ = min_;
    hi = max_;
  }
  width_ = (hi - lo_) / kHistogramBins;
  inv_width_ = width_ > 0.0 ? 1.0 / width_ : 0.0;
}

void HistogramObserver::observe(const float* x, size_t n) {
  if (n == 0) return;
  if (pass_ == 0) {
    auto mm = std::minmax_element(x, x + n);
    return observe_with_extremes(x, n, *mm.first, *mm.second);
  }
  // Bins of a chunk first (a loop the compiler vectorises), then the counts. The bin is
  // clamp(floor((v - lo) / width), 0, last), computed as trunc(clamp(·, 0, last)): the same for every v.
  const bool absolute = kind_ == HistogramKind::Absolute;
  constexpr double last = kHistogramBins - 1;
  constexpr size_t kChunk = 4096;
  const double lo = lo_, inv = inv_width_;
  thread_local std::vector<int32_t> scratch;  // a chunk's bins (kHistogramBins: not counted)
  scratch.resize(std::min(n, kChunk));
  int32_t* bins = scratch.data();
  for (size_t i0 = 0; i0 < n; i0 += kChunk) {
    const size_t m = std::min(kChunk, n - i0);
    const float* xs = x + i0;
    for (size_t i = 0; i < m; ++i) {
      const double v = absolute ? std::fabs(static_cast<double>(xs[i])) : static_cast<double>(xs[i]);
      const double b = std::min(std::max((v - lo) * inv, 0.0), last);
      bins[i] = skip_zeros_ && v == 0.0 ? kHistogramBins : static_cast<int32_t>(b);
    }
    double* counts = counts_.data();
    for (size_t i = 0; i < m; ++i)
      if (bins[i] < kHistogramBins) counts[bins[i]] += 1.0;
  }
}

void HistogramObserver::observe_with_extremes(const float* x, size_t n, float min, float max) {
  if (n == 0) return;
  if (pass_ != 0) return observe(x, n);
  min_ = seen_ ? std::min(min_, min) : min;
  max_ = seen_ ? std::max(max_, max) : max;
  seen_ = true;
}

float HistogramObserver::observed_absmax() const { return std::max(std::fabs(min_), std::fabs(max_)); }

Range HistogramObserver::clip_range(double t) const {
  float hi = std::min(max_, static_cast<float>(t));
  float lo = std::min(std::max(min_, static_cast<float>(-t)), hi);  // all-positive data clipped below its min
  return Range{lo, hi};
}

int HistogramObserver::filled_bins() const {
  return static_cast<int>(std::count_if(counts_.begin(), counts_.end(), [](double v) { return v != 0.0; }));
}

Range HistogramObserver::window_range(const WindowSearch& search, Window w) const {
  const bool to_end = w.e == search.bins();
  if (kind_ == HistogramKind::Absolute) return clip_range(to_end ? observed_absmax() : search.range(w.a, w.e).hi);
  const Range r = search.range(w.a, w.e);
  const float hi = to_end ? max_ : std::min(max_, r.hi);
  return Range{std::min(w.a == 0 ? min_ : std::max(min_, r.lo), hi), hi};
}

}  // namespace ptq::calib
