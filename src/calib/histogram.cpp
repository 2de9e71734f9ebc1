// SPDX-License-Identifier: Apache-2.0
// HistogramObserver (see histogram.h).
#include "histogram.h"

#include "window_search.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace ptq::calib {
namespace {

// The range a histogram of `kind` covers for values in [min, max] (histogram.h): for one call's
// values while counting, for all of them when resampling.
std::pair<double, double> covered(HistogramKind kind, float min, float max) {
  const double lo = min, hi = max;
  if (kind == HistogramKind::Absolute) return {0.0, std::max(std::fabs(lo), std::fabs(hi))};
  if (kind == HistogramKind::Spanning) return {std::min(lo, 0.0), std::max(hi, 0.0)};
  return {lo, hi};
}

}  // namespace

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
  const auto [lo, hi] = covered(kind_, min, max);
  fine_.add(x, n, lo, hi, kind_ == HistogramKind::Absolute, skip_zeros_);
}

const HistogramObserver::View& HistogramObserver::view() const {
  if (view_.ready) return view_;
  const auto [lo, hi] = covered(kind_, min_, max_);
  view_.lo = lo;
  view_.width = (hi - lo) / kHistogramBins;
  view_.counts = empty() ? std::vector<double>(kHistogramBins, 0.0) : fine_.resample(lo, hi, kHistogramBins);
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
