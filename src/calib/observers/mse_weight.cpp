// SPDX-License-Identifier: Apache-2.0
// mse for weights (make_mse_weight_observer, --weight-range mse): per channel on the raw values (kept,
// as they are in memory anyway), no histogram:
//   candidates T_k = k · absmax / kWeightSteps for k = 1 .. kWeightSteps = 100, then
//   T* ± j · absmax / (kWeightSteps · kRefineSteps), j = 1 .. 9, around the best T* (kRefineSteps = 10:
//   a 0.1 % step, finer than an 8-bit grid's 1/127); for each, the range [max(min, -T), min(max, T)]
//   (histogram.h's clip_range, one-signed data too) through compute_qparams with the target's spec,
//   and the error sum_j (fq(x_j) - x_j)^2 exact over the values, fq being dequantize(quantize(.)) as
//   QuantizeLinear computes it (scale.h fake_quantize_value). The argmin's range is returned; ties go
//   to the larger T. T = absmax is a candidate, so the error is never above min/max's.
// Clipping matters most on the coarse 4-bit grid, where the outer levels pay for a few large weights
// with a step too wide for all the others.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "observers.h"
#include "ptq/quant/scale.h"

namespace ptq::calib {
namespace {

constexpr int kWeightSteps = 100;
constexpr int kRefineSteps = 10;

class MseValuesObserver final : public Observer {
 public:
  explicit MseValuesObserver(const QuantSpec& spec) : spec_(spec) {}

  void observe(const float* x, size_t n) override { values_.insert(values_.end(), x, x + n); }

  Range compute_range() const override {
    if (values_.empty()) return Range{};
    const auto [lo_it, hi_it] = std::minmax_element(values_.begin(), values_.end());
    const float lo = *lo_it, hi = *hi_it;
    const double absmax = std::max(std::fabs(static_cast<double>(lo)), std::fabs(static_cast<double>(hi)));
    if (absmax == 0.0) return Range{lo, hi};
    Best best;
    const double step = absmax / kWeightSteps;
    for (int k = 1; k <= kWeightSteps; ++k) consider(k * step, lo, hi, best);
    const double coarse = best.t;  // refine between the neighbours of the coarse optimum
    for (int j = -kRefineSteps + 1; j < kRefineSteps; ++j)
      if (j != 0 && coarse + j * step / kRefineSteps <= absmax) consider(coarse + j * step / kRefineSteps, lo, hi, best);
    return best.range;
  }

 private:
  struct Best {
    double t = 0.0, err = std::numeric_limits<double>::infinity();
    Range range;
  };

  // Threshold t on values in [lo, hi]: the range (as histogram.h clip_range, one-signed data too) and
  // its exact squared error; kept when lower, or equal with a larger t.
  void consider(double t, float lo, float hi, Best& best) const {
    const float tf = static_cast<float>(t), r_hi = std::min(hi, tf);
    const Range r{std::min(std::max(lo, -tf), r_hi), r_hi};
    const QParams qp = compute_qparams(r, spec_);
    const double qlo = static_cast<double>(qtype_min(spec_.type)), qhi = static_cast<double>(qtype_max(spec_.type));
    double err = 0.0;
    for (float x : values_) {
      const double d = static_cast<double>(fake_quantize_value(x, qp.scale[0], qp.zero_point[0], qlo, qhi)) - x;
      err += d * d;
    }
    if (err < best.err || (err == best.err && t > best.t)) best = Best{t, err, r};
  }

  QuantSpec spec_;
  std::vector<float> values_;
};

}  // namespace

std::unique_ptr<Observer> make_mse_weight_observer(const ObserverConfig& config) {
  return std::make_unique<MseValuesObserver>(config.spec);
}

}  // namespace ptq::calib
