// SPDX-License-Identifier: Apache-2.0
// mse: the clipping range minimising the expected squared quantization error, from a histogram (the
// approach of NVIDIA pytorch-quantization's _compute_amax_mse, on ptq's actual grid).
//   One pass into a kHistogramBins = 2048-bin histogram (histogram.h): symmetric specs |x|
//   over [0, absmax]; asymmetric specs x over [min(min, 0), max(max, 0)].
//   Candidates are clipping windows of bins (window_search.h) at least kMinWidth = 2048/16 bins wide:
//   symmetric specs [-T, T]; asymmetric specs [lo, hi] with both edges free on a signed tensor
//   (coordinate descent: a tensor like a SiLU output, [-0.28, 18], clips only its long side). The error
//   of a candidate is sum_k n_k (fq(c_k) - c_k)^2 over bin centres c_k with counts n_k, fq being
//   dequantize(quantize(.)) on the candidate's grid exactly as QuantizeLinear computes it, each bin
//   weighted by how the tensor's readers amplify its error (reader_gain.h; 1 for linear readers); a
//   tensor read by a Log, Sqrt, Reciprocal or Div denominator keeps at least its percentile range.
//   The argmin's range is returned (inside what was observed); ties go to the wider window.
#include <algorithm>
#include <vector>

#include "../histogram.h"
#include "../window_search.h"
#include "observers.h"

namespace ptq::calib {
namespace {

constexpr int kMinWidth = kHistogramBins / 16;

size_t pick_least_error(const std::vector<Candidate>& c) {
  size_t best = 0;
  for (size_t i = 1; i < c.size(); ++i)
    if (c[i].error <= c[best].error) best = i;
  return best;
}

class MseObserver final : public HistogramObserver {
 public:
  explicit MseObserver(const ObserverConfig& config)
      : HistogramObserver(config.spec.symmetric ? HistogramKind::Absolute : HistogramKind::Spanning),
        spec_(config.spec),
        gain_(config.gain),
        percentile_(config.percentile) {}

  Range compute_range() const override {
    if (empty()) return Range{};
    if (filled_bins() <= 1) return Range{observed_min(), observed_max()};  // constant
    WindowSearch search(counts(), lo(), width(), spec_.symmetric, spec_, gain_, percentile_);
    return window_range(search, search.descend(kMinWidth, 0.0, pick_least_error));
  }

 private:
  QuantSpec spec_;
  ReaderGain gain_;
  double percentile_;
};

}  // namespace

std::unique_ptr<Observer> make_mse_observer(const ObserverConfig& config) {
  return std::make_unique<MseObserver>(config);
}

}  // namespace ptq::calib
