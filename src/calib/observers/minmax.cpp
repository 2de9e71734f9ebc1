// SPDX-License-Identifier: Apache-2.0
// minmax: the observed range.
//  - running (moving_average == 0): [min x, max x] over every value observed (as ORT's MinMax
//    calibrator); chunked observation equals one-shot.
//  - moving average (moving_average = c in (0, 1]): per observe() call, i.e. per tensor of one
//    sample, m <- m + c·(m_call - m) for the min and the max, the first call initialising m (ORT's
//    merge_range with CalibMovingAverageConstant, default there 0.01). This one depends on how the
//    data is cut into calls.
// Empty calls are ignored; nothing observed gives [0, 0].
#include <algorithm>

#include "observers.h"

namespace ptq::calib {
namespace {

class MinMaxObserver final : public Observer {
 public:
  explicit MinMaxObserver(float moving_average) : c_(moving_average) {}

  void observe(const float* x, size_t n) override {
    if (n == 0) return;
    auto mm = std::minmax_element(x, x + n);
    observe_with_extremes(x, n, *mm.first, *mm.second);
  }

  void observe_with_extremes(const float*, size_t n, float min, float max) override {
    if (n == 0) return;
    if (!seen_) {
      lo_ = min;
      hi_ = max;
      seen_ = true;
    } else if (c_ > 0.0f) {
      lo_ += c_ * (min - lo_);
      hi_ += c_ * (max - hi_);
    } else {
      lo_ = std::min(lo_, min);
      hi_ = std::max(hi_, max);
    }
  }

  bool order_independent() const override { return c_ == 0.0f; }
  bool extremes_only() const override { return true; }

  Range compute_range() const override { return Range{lo_, hi_}; }

 private:
  float c_;
  bool seen_ = false;
  float lo_ = 0.0f, hi_ = 0.0f;
};

}  // namespace

std::unique_ptr<Observer> make_minmax_observer(const ObserverConfig& config) {
  if (!(config.moving_average >= 0.0f && config.moving_average <= 1.0f))
    PTQ_FAIL(UsageError, "moving-average constant ", config.moving_average, " is outside [0, 1]");
  return std::make_unique<MinMaxObserver>(config.moving_average);
}

}  // namespace ptq::calib
