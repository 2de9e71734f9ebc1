// SPDX-License-Identifier: Apache-2.0
// kl: entropy calibration as TensorRT describes it (GTC 2017, "8-bit Inference with TensorRT"), searched
// on the grid the tensor is actually quantized to, with a guard on the expected squared error.
//   One pass into a kHistogramBins = 2048-bin histogram (histogram.h):
//     symmetric specs: |x| over [0, absmax]; asymmetric specs: x over [min(min, 0), max(max, 0)].
//   Exact zeros are not counted (as ncnn): every candidate represents them exactly, and in a post-ReLU
//   tensor they would swamp the first level and bias the search.
//   Candidates are clipping windows of bins (window_search.h), on the real grid of each: symmetric
//   int8 has 128 levels over [0, T] (TensorRT's count), uint8 on a non-negative tensor 256 levels over
//   [0, T], uint8 on a signed tensor 256 levels over [lo, hi] (two edges: coordinate descent).
//   For each candidate, as TensorRT:
//     P = bins of the window, with the clipped mass folded into the end bins;
//     Q = each level's count of the unclipped bins spread evenly over its bins where P != 0, 0 elsewhere
//         (a level = the bins whose centres QuantizeLinear maps to one code);
//     smooth P and Q (eps 1e-4: zero entries get eps, the others lose eps·n_zero/n_nonzero), normalise,
//     KL(P||Q) = sum p·ln(p/q).
//   Windows narrower than the grid's number of levels are not tried (TensorRT starts at bin 128 for 128
//   levels).
//   Guard: KL counts values, not their size, so it readily clips a rare tail that carries much of the
//   tensor's energy (measured: a ReLU6 output of MobileNetV2 clipped from 6 to 2.9, 0.3 % of the values
//   but 9 % of the energy: tensor SNR 44 -> 24 dB; YOLOX's stem, whose channels span 0.4 to 92, clipped
//   to 17: SNR 27 -> 12 dB, output cosine 0.08). Only candidates whose expected squared error (the same
//   histogram, the same grid) is at most kMaxExcessError times the least of the sweep are eligible; KL
//   chooses among them. The error is the one the tensor's readers pass on (reader_gain.h): a tensor
//   squared by a Pow, or read by an Exp, weighs each bin by that reader's squared derivative
//   (measured: openWakeWord's STFT output, squared into a power spectrum, was clipped from 7.7e5 to
//   3.4e5 by counting values; output cosine 0.861 against percentile's 0.881); a tensor read by a Log,
//   Sqrt, Reciprocal or as a Div's denominator is not clipped below its percentile range; nor is a
//   saturated end (window_search.h: an end bin with >= 0.1 % of the values). Ties go to the wider window
//   (less clipping), e.g. a constant tensor. Range: the chosen window, inside what was observed.
// 16-bit types: 2048 bins cannot resolve a 65536-level grid, so int16/uint16 get [min, max].
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../histogram.h"
#include "../window_search.h"
#include "observers.h"

namespace ptq::calib {
namespace {

constexpr double kMaxExcessError = 2.0;  // eligible: expected squared error <= 2x the least (3 dB)

// The candidate KL picks among those the guard leaves (later candidates are wider: ties go there).
size_t pick_guarded(const std::vector<Candidate>& c) {
  double least = std::numeric_limits<double>::infinity();
  for (const auto& x : c) least = std::min(least, x.error);
  size_t best = 0;
  double best_kl = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < c.size(); ++i)
    if (c[i].error <= kMaxExcessError * least && c[i].kl <= best_kl) best_kl = c[i].kl, best = i;
  if (std::isinf(best_kl))  // no finite divergence (e.g. every candidate's P or Q is empty): least error
    for (size_t i = 0; i < c.size(); ++i)
      if (c[i].error <= c[best].error) best = i;
  return best;
}

class KlObserver final : public HistogramObserver {
 public:
  explicit KlObserver(const ObserverConfig& config)
      : HistogramObserver(config.spec.symmetric ? HistogramKind::Absolute : HistogramKind::Spanning, true),
        spec_(config.spec),
        gain_(config.gain),
        percentile_(config.percentile) {}

  Range compute_range() const override {
    if (empty()) return Range{};
    if (filled_bins() <= 1) return Range{observed_min(), observed_max()};  // all zeros, or constant
    WindowSearch search(counts(), lo(), width(), spec_.symmetric, spec_, gain_, percentile_);
    if (search.levels() >= kHistogramBins) return Range{observed_min(), observed_max()};  // 16-bit
    return window_range(search, search.descend(static_cast<int>(search.levels()), kMaxExcessError, pick_guarded));
  }

 private:
  QuantSpec spec_;
  ReaderGain gain_;
  double percentile_;
};

}  // namespace

std::unique_ptr<Observer> make_kl_observer(const ObserverConfig& config) {
  return std::make_unique<KlObserver>(config);
}

}  // namespace ptq::calib
