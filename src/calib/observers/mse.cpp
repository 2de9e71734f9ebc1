// SPDX-License-Identifier: Apache-2.0
// mse: the clipping threshold minimising the expected squared quantization error, from a histogram
// (the approach of NVIDIA pytorch-quantization's _compute_amax_mse, on ptq's actual grid).
//   pass 0: min, max; pass 1: kBins = 2048-bin histogram of x over [min, max] (histogram.h).
//   Candidates T_i = i · absmax / 2048 for i = 128 .. 2048 (the last one clips nothing). For each,
//   the range r_i = [max(min, -T_i), min(max, T_i)] goes through compute_qparams with the target's spec,
//   and the error is sum_j n_j · (fq(c_j) - c_j)^2 over bin centres c_j with counts n_j, fq being
//   dequantize(quantize(.)) exactly as QuantizeLinear computes it (scale.h fake_quantize_value).
//   The argmin's range is returned; ties go to the larger T (less clipping).
#include <limits>
#include <utility>
#include <vector>

#include "../histogram.h"
#include "observers.h"
#include "ptq/quant/scale.h"

namespace ptq::calib {
namespace {

constexpr int kFirstCandidate = 128;

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

}  // namespace

std::unique_ptr<Observer> make_mse_observer(const ObserverConfig& config) {
  return std::make_unique<MseObserver>(config.spec);
}

}  // namespace ptq::calib
