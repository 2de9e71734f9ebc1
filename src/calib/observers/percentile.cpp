// SPDX-License-Identifier: Apache-2.0
// percentile: clip the tails, keeping p % of the values (p = ObserverConfig::percentile, default
// 99.999 as ONNX Runtime). One pass into a kHistogramBins = 2048-bin histogram (histogram.h):
//   symmetric specs: histogram of |x| over [0, absmax]; T = upper edge of the first bin where the
//     cumulative count reaches p/100 · total; range [max(min, -T), min(max, T)].
//   asymmetric specs: histogram of x over [min, max], (100 - p)/200 of the values cut on each side:
//     lo = lower edge of the first bin whose cumulative count exceeds the tail share,
//     hi = upper edge of the first bin whose cumulative count reaches total - tail share.
// The result is within one bin width (range/2048) of the exact quantile; p = 100 gives [min, max].
#include <algorithm>

#include "../histogram.h"
#include "observers.h"

namespace ptq::calib {
namespace {

class PercentileObserver final : public HistogramObserver {
 public:
  PercentileObserver(bool symmetric, double percentile)
      : HistogramObserver(symmetric ? HistogramKind::Absolute : HistogramKind::Signed),
        symmetric_(symmetric),
        keep_(percentile / 100.0) {}

  Range compute_range() const override {
    if (empty()) return Range{};
    const std::vector<double>& bins = counts();
    double total = 0.0;
    for (double v : bins) total += v;
    if (symmetric_) return clip_range(lo() + (first_reaching(keep_ * total) + 1) * width());
    const double tail = (1.0 - keep_) / 2.0 * total;
    int low = 0;
    for (double cum = bins[0]; cum <= tail && low + 1 < kHistogramBins;) cum += bins[static_cast<size_t>(++low)];
    int high = first_reaching(total - tail);
    Range r{static_cast<float>(lo() + low * width()), static_cast<float>(lo() + (high + 1) * width())};
    r.lo = std::max(r.lo, observed_min());
    r.hi = std::max(std::min(r.hi, observed_max()), r.lo);
    return r;
  }

 private:
  // First bin where the cumulative count reaches `target`.
  int first_reaching(double target) const {
    const std::vector<double>& bins = counts();
    double cum = 0.0;
    for (int b = 0; b < kHistogramBins; ++b) {
      cum += bins[static_cast<size_t>(b)];
      if (cum >= target) return b;
    }
    return kHistogramBins - 1;
  }

  bool symmetric_;
  double keep_;
};

}  // namespace

std::unique_ptr<Observer> make_percentile_observer(const ObserverConfig& config) {
  if (!(config.percentile > 0.0f && config.percentile <= 100.0f))
    PTQ_FAIL(UsageError, "percentile ", config.percentile, " is outside (0, 100]");
  return std::make_unique<PercentileObserver>(config.spec.symmetric, config.percentile);
}

}  // namespace ptq::calib
