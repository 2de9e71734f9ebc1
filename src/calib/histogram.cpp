// SPDX-License-Identifier: Apache-2.0
// HistogramObserver (see histogram.h).
#include "histogram.h"

#include "window_search.h"

#include <algorithm>
#include <cmath>

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
    min_ = seen_ ? std::min(min_, *mm.first) : *mm.first;
    max_ = seen_ ? std::max(max_, *mm.second) : *mm.second;
    seen_ = true;
    return;
  }
  const bool absolute = kind_ == HistogramKind::Absolute;
  constexpr double last = kHistogramBins - 1;
  for (size_t i = 0; i < n; ++i) {
    double v = absolute ? std::fabs(static_cast<double>(x[i])) : static_cast<double>(x[i]);
    if (skip_zeros_ && v == 0.0) continue;
    double b = std::clamp(std::floor((v - lo_) * inv_width_), 0.0, last);
    counts_[static_cast<size_t>(b)] += 1.0;
  }
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
