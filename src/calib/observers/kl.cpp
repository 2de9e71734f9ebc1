// SPDX-License-Identifier: Apache-2.0
// kl: entropy calibration as TensorRT describes it (GTC 2017, "8-bit Inference with TensorRT"),
// not ONNX Runtime's 128-bin default (whose search degenerates to max).
//   pass 0: absmax; pass 1: kBins = 2048-bin histogram of |x| over [0, absmax] (histogram.h).
//   Exact zeros are not counted (as ncnn): every candidate represents them exactly, and in a post-ReLU
//   tensor they would swamp the first level and bias the search.
//   For each candidate i = 128 .. 2047 (bins kept):
//     P = bins[0..i-1], P[i-1] += sum(bins[i..])           clipped mass folded into the last bin
//     Q = bins[0..i-1] merged into kLevels = 128 levels of floor(i/128) bins (the last level also takes
//         the remainder), each level's count spread evenly over its bins where P != 0, 0 elsewhere
//     smooth P and Q (kEps = 1e-4: zero entries get eps, the others lose eps·n_zero/n_nonzero),
//     normalise both, KL(P||Q) = sum p·ln(p/q)
//   m = argmin KL; ties (e.g. a constant tensor, where every candidate scores 0) go to the largest m,
//   which clips least. T = (m + 0.5) · absmax / 2048.
//   Range: [max(min, -T), min(max, T)] (histogram.h clip_range), so an asymmetric post-ReLU tensor gets [0, T].
// 16-bit types: 128 levels say nothing about a 65536-level grid, so int16/uint16 get [min, max].
#include <cmath>
#include <limits>
#include <vector>

#include "../histogram.h"
#include "observers.h"

namespace ptq::calib {
namespace {

constexpr int kLevels = 128;
constexpr double kEps = 1e-4;

// Smooths counts in place (ORT/MXNet smooth_distribution); false when all are zero.
bool smooth(std::vector<double>& d) {
  size_t zeros = 0;
  for (double v : d) zeros += v == 0.0;
  if (zeros == d.size()) return false;
  const double take = kEps * static_cast<double>(zeros) / static_cast<double>(d.size() - zeros);
  double sum = 0.0;
  for (double& v : d) {
    v = v == 0.0 ? kEps : v - take;
    sum += v;
  }
  for (double& v : d) v /= sum;
  return true;
}

// KL(P||Q) of candidate i; `outliers` = sum of bins[i..].
double divergence(const std::vector<double>& bins, int i, double outliers, std::vector<double>& p,
                  std::vector<double>& q) {
  p.assign(bins.begin(), bins.begin() + i);
  p[static_cast<size_t>(i - 1)] += outliers;
  q.assign(static_cast<size_t>(i), 0.0);
  const int merged = i / kLevels;
  for (int j = 0; j < kLevels; ++j) {
    const int start = j * merged, stop = j == kLevels - 1 ? i : start + merged;
    double level = 0.0;
    int nonzero = 0;
    for (int k = start; k < stop; ++k) {
      level += bins[static_cast<size_t>(k)];
      nonzero += p[static_cast<size_t>(k)] != 0.0;
    }
    if (nonzero == 0) continue;
    for (int k = start; k < stop; ++k)
      if (p[static_cast<size_t>(k)] != 0.0) q[static_cast<size_t>(k)] = level / nonzero;
  }
  if (!smooth(p) || !smooth(q)) return std::numeric_limits<double>::infinity();
  double kl = 0.0;
  for (size_t k = 0; k < p.size(); ++k) kl += p[k] * std::log(p[k] / q[k]);
  return kl;
}

class KlObserver final : public HistogramObserver {
 public:
  explicit KlObserver(const QuantSpec& spec) : HistogramObserver(HistogramKind::Absolute, true), spec_(spec) {}

  Range compute_range() const override {
    if (empty()) return Range{};
    if (spec_.type == QType::Int16 || spec_.type == QType::UInt16) return Range{observed_min(), observed_max()};
    const std::vector<double>& bins = counts();
    double total = 0.0;
    for (double v : bins) total += v;
    if (total == 0.0) return Range{observed_min(), observed_max()};  // all zeros
    std::vector<double> suffix(bins.size() + 1, 0.0);
    for (size_t k = bins.size(); k-- > 0;) suffix[k] = suffix[k + 1] + bins[k];
    std::vector<double> p, q;
    int best = kLevels;
    double best_kl = std::numeric_limits<double>::infinity();
    for (int i = kLevels; i < kHistogramBins; ++i) {
      double kl = divergence(bins, i, suffix[static_cast<size_t>(i)], p, q);
      if (kl <= best_kl) {
        best_kl = kl;
        best = i;
      }
    }
    return clip_range((best + 0.5) * width());
  }

 private:
  QuantSpec spec_;
};

}  // namespace

std::unique_ptr<Observer> make_kl_observer(const ObserverConfig& config) {
  return std::make_unique<KlObserver>(config.spec);
}

}  // namespace ptq::calib
