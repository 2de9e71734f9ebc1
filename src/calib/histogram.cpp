// SPDX-License-Identifier: Apache-2.0
// HistogramObserver (see histogram.h).
#include "histogram.h"

#include "window_search.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ptq::calib {

void HistogramObserver::observe(const float* x, size_t n) {
  if (n == 0) return;
  auto mm = std::minmax_element(x, x + n);
  observe_with_extremes(x, n, *mm.first, *mm.second);
}

void HistogramObserver::observe_with_extremes(const float* x, size_t n, float min, float max) {
  if (n == 0) return;
  min_ = seen_ ? std::min(min_, min) : min;
  max_ = seen_ ? std::max(max_, max) : max;
  seen_ = true;
  view_.ready = false;
  double lo = min, hi = max;
  if (kind_ == HistogramKind::Absolute) {
    lo = 0.0;
    hi = std::max(std::fabs(static_cast<double>(min)), std::fabs(static_cast<double>(max)));
  } else if (kind_ == HistogramKind::Spanning) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  fine_.add(x, n, lo, hi, kind_ == HistogramKind::Absolute, skip_zeros_);
}

const HistogramObserver::View& HistogramObserver::view() const {
  if (view_.ready) return view_;
  double hi;
  if (kind_ == HistogramKind::Absolute) {
    view_.lo = 0.0;
    hi = observed_absmax();
  } else if (kind_ == HistogramKind::Spanning) {
    view_.lo = std::min(min_, 0.0f);
    hi = std::max(max_, 0.0f);
  } else {
    view_.lo = min_;
    hi = max_;
  }
  view_.width = (hi - view_.lo) / kHistogramBins;
  view_.counts =
      fine_.empty() ? std::vector<double>(kHistogramBins, 0.0) : fine_.resample(view_.lo, hi, kHistogramBins);
  view_.ready = true;
  return view_;
}

float HistogramObserver::observed_absmax() const { return std::max(std::fabs(min_), std::fabs(max_)); }

Range HistogramObserver::clip_range(double t) const {
  float hi = std::min(max_, static_cast<float>(t));
  float lo = std::min(std::max(min_, static_cast<float>(-t)), hi);  // all-positive data clipped below its min
  return Range{lo, hi};
}

int HistogramObserver::filled_bins() const {
  return static_cast<int>(std::count_if(counts().begin(), counts().end(), [](double v) { return v != 0.0; }));
}

Range HistogramObserver::window_range(const WindowSearch& search, Window w) const {
  const bool to_end = w.e == search.bins();
  if (kind_ == HistogramKind::Absolute) return clip_range(to_end ? observed_absmax() : search.range(w.a, w.e).hi);
  const Range r = search.range(w.a, w.e);
  const float hi = to_end ? max_ : std::min(max_, r.hi);
  return Range{std::min(w.a == 0 ? min_ : std::max(min_, r.lo), hi), hi};
}

}  // namespace ptq::calib
