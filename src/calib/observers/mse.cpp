// SPDX-License-Identifier: Apache-2.0
// mse: the clipping threshold minimising the expected squared quantization error, from a histogram
// (the approach of NVIDIA pytorch-quantization's _compute_amax_mse, on ptq's actual grid).
//   pass 0: min, max; pass 1: kBins = 2048-bin histogram of x over [min, max] (histogram.h).
//   Candidates T_i = i · absmax / 2048 for i = 128 .. 2048 (the last one clips nothing). For each,
//   the range r_i = [max(min, -T_i), min(max, T_i)] goes through compute_qparams with the target's spec,
//   and the error is sum_j n_j · (fq(c_j) - c_j)^2 over bin centres c_j with counts n_j, fq being
//   dequantize(quantize(.)) exactly as QuantizeLinear computes it (scale.h fake_quantize_value).
//   The argmin's range is returned; ties go to the larger T (less clipping).
// Weights (make_mse_weight_observer, --weight-range mse): per channel on the raw values (kept, as they
// are in memory anyway), no histogram: candidates T_k = k · absmax / kWeightSteps for k = 1 ..
// kWeightSteps = 100, then T* ± j · absmax / (kWeightSteps · kRefineSteps), j = 1 .. 9, around the
// best T* (kRefineSteps = 10: a 0.1 % step, finer than an 8-bit grid's 1/127); range
// [max(min, -T), min(max, T)] (clip_range's) through compute_qparams, error sum_j (fq(x_j) - x_j)^2
// exact over the values; argmin, ties to the larger T. T = absmax is a candidate, so the error is
// never above min/max's. Clipping matters most on the coarse 4-bit grid, where the outer levels pay
// for a few large weights with a step too wide for all the others.
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "../histogram.h"
#include "observers.h"
#include "ptq/quant/scale.h"

namespace ptq::calib {
namespace {

constexpr int kFirstCandidate = 128;
constexpr int kWeightSteps = 100;
constexpr int kRefineSteps = 10;

class MseObserver final : public HistogramObserver {
 public:
  explicit MseObserver(const QuantSpec& spec) : HistogramObserver(HistogramKind::Signed), spec_(spec) {}

  Range compute_range() const override {
    if (empty()) return Range{};
    std::vector<std::pair<float, double>> filled;  // (bin centre, count) of non-empty bins
    for (int b = 0; b < kHistogramBins; ++b)
      if (counts()[static_cast<size_t>(b)] > 0.0) filled.emplace_back(static_cast<float>(centre(b)), counts()[static_cast<size_t>(b)]);
    const double step = static_cast<double>(observed_absmax()) / kHistogramBins;
    const double qlo = static_cast<double>(qtype_min(spec_.type)), qhi = static_cast<double>(qtype_max(spec_.type));
    Range best = Range{observed_min(), observed_max()};
    double best_err = std::numeric_limits<double>::infinity();
    for (int i = kFirstCandidate; i <= kHistogramBins; ++i) {
      Range r = clip_range(i * step);
      QParams qp = compute_qparams(r, spec_);
      double err = 0.0;
      for (const auto& [c, n] : filled) {
        double d = static_cast<double>(fake_quantize_value(c, qp.scale[0], qp.zero_point[0], qlo, qhi)) - c;
        err += n * d * d;
      }
      if (err <= best_err) {
        best_err = err;
        best = r;
      }
    }
    return best;
  }

 private:
  QuantSpec spec_;
};

class MseValuesObserver final : public Observer {
 public:
  explicit MseValuesObserver(const QuantSpec& spec) : spec_(spec) {}

  void observe(const float* x, size_t n) override { values_.insert(values_.end(), x, x + n); }

  Range compute_range() const override {
    if (values_.empty()) return Range{};
    const auto [lo_it, hi_it] = std::minmax_element(values_.begin(), values_.end());
    lo_ = *lo_it, hi_ = *hi_it;
    const double absmax = std::max(std::fabs(static_cast<double>(lo_)), std::fabs(static_cast<double>(hi_)));
    if (absmax == 0.0) return Range{lo_, hi_};
    Best best;
    const double step = absmax / kWeightSteps;
    for (int k = 1; k <= kWeightSteps; ++k) consider(k * step, best);
    const double coarse = best.t;  // refine between the neighbours of the coarse optimum
    for (int j = -kRefineSteps + 1; j < kRefineSteps; ++j)
      if (j != 0 && coarse + j * step / kRefineSteps <= absmax) consider(coarse + j * step / kRefineSteps, best);
    return best.range;
  }

 private:
  struct Best {
    double t = 0.0, err = std::numeric_limits<double>::infinity();
    Range range;
  };

  // Threshold t: the range (as histogram.h clip_range, one-signed data too) and its exact squared
  // error; kept when lower, or equal with a larger t.
  void consider(double t, Best& best) const {
    const float tf = static_cast<float>(t), r_hi = std::min(hi_, tf);
    const Range r{std::min(std::max(lo_, -tf), r_hi), r_hi};
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
  mutable float lo_ = 0.0f, hi_ = 0.0f;
};

}  // namespace

std::unique_ptr<Observer> make_mse_observer(const ObserverConfig& config) {
  return std::make_unique<MseObserver>(config.spec);
}

std::unique_ptr<Observer> make_mse_weight_observer(const ObserverConfig& config) {
  return std::make_unique<MseValuesObserver>(config.spec);
}

}  // namespace ptq::calib
