// SPDX-License-Identifier: Apache-2.0
// admm: the scale fit MNN calls ADMM, which is alternating least squares (no dual variable): find the
// scale a minimising  sum_j n_j (x_j - a·q_j)^2  with integer levels q_j in [L, H], by alternating
//     q <- clip(round(x / a), L, H)          (best levels for a fixed scale)
//     a <- sum n·x·q / sum n·q^2             (best scale for fixed levels)
// until the levels stop changing (a fixed point: neither step can lower the error) or kMaxIterations
// = 1000 (MNN's fixed count). The error never increases from one iteration to the next.
//   Levels: symmetric specs [-C, C] with C = (qmax - qmin)/2 (127 for int8); asymmetric specs keep the
//     zero point z that compute_qparams gives for [min, max] and use [qmin - z, qmax - z].
//   Start: a0 = (scale of the min/max grid) / kStartShrink, kStartShrink = 1.25 — for symmetric
//     specs a0 = max|x| / (1.25·C), MNN's weight start. The iteration only finds a local optimum, which
//     can be worse than plain min/max; ptq therefore also iterates from the min/max scale and keeps
//     the fixed point with the lower error, so admm never does worse than minmax on what it fits.
//   Weights (make_admm_weight_observer): per channel on the raw values (n_j = 1; they are kept, as
//     they are in memory anyway). Activations (make_admm_observer): one pass, on the 2048 bin
//     centres of a histogram of x (histogram.h) weighted by their counts, so memory stays flat.
//   Range handed to compute_qparams: [a·L, a·H], which gives back scale a and zero point z.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../histogram.h"
#include "observers.h"
#include "ptq/quant/scale.h"

namespace ptq::calib {
namespace {

constexpr int kMaxIterations = 1000;
constexpr double kStartShrink = 1.25;

struct Point {
  double x, n;  // value, weight (count)
};

// Alternating least squares from scale a on levels [lo_level, hi_level]; returns the fixed point's
// scale and its error.
std::pair<double, double> alternate(const std::vector<Point>& points, double a, double lo_level, double hi_level) {
  std::vector<double> q(points.size(), NAN);
  for (int it = 0; it < kMaxIterations; ++it) {
    bool changed = false;
    double xq = 0.0, qq = 0.0;
    for (size_t j = 0; j < points.size(); ++j) {
      double level = std::clamp(std::nearbyint(points[j].x / a), lo_level, hi_level);
      changed = changed || level != q[j];
      q[j] = level;
      xq += points[j].n * points[j].x * level;
      qq += points[j].n * level * level;
    }
    if (!changed || qq == 0.0) break;
    a = xq / qq;
  }
  double err = 0.0;
  for (const Point& p : points) {
    double d = p.x - a * std::clamp(std::nearbyint(p.x / a), lo_level, hi_level);
    err += p.n * d * d;
  }
  return {a, err};
}

// Fits the scale on `points` for the spec, given the observed [min, max]; returns [a·L, a·H].
Range fit_range(const std::vector<Point>& points, float min, float max, const QuantSpec& spec) {
  if (points.empty() || (min == 0.0f && max == 0.0f)) return Range{min, max};
  QParams start = compute_qparams(Range{min, max}, spec);
  double lo_level, hi_level;
  if (spec.symmetric) {
    hi_level = static_cast<double>(spec.qmax() - spec.qmin()) / 2.0;
    lo_level = -hi_level;
  } else {
    lo_level = static_cast<double>(spec.qmin() - start.zero_point[0]);
    hi_level = static_cast<double>(spec.qmax() - start.zero_point[0]);
  }
  const double minmax_scale = static_cast<double>(start.scale[0]);
  auto fit = alternate(points, minmax_scale / kStartShrink, lo_level, hi_level);
  auto from_minmax = alternate(points, minmax_scale, lo_level, hi_level);
  if (from_minmax.second < fit.second) fit = from_minmax;
  return Range{static_cast<float>(fit.first * lo_level), static_cast<float>(fit.first * hi_level)};
}

class AdmmHistogramObserver final : public HistogramObserver {
 public:
  explicit AdmmHistogramObserver(const QuantSpec& spec) : HistogramObserver(HistogramKind::Signed), spec_(spec) {}

  Range compute_range() const override {
    if (empty()) return Range{};
    std::vector<Point> points;
    for (int b = 0; b < kHistogramBins; ++b)
      if (counts()[static_cast<size_t>(b)] > 0.0) points.push_back({centre(b), counts()[static_cast<size_t>(b)]});
    return fit_range(points, observed_min(), observed_max(), spec_);
  }

 private:
  QuantSpec spec_;
};

class AdmmValuesObserver final : public Observer {
 public:
  explicit AdmmValuesObserver(const QuantSpec& spec) : spec_(spec) {}

  void observe(const float* x, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      min_ = points_.empty() ? x[i] : std::min(min_, x[i]);
      max_ = points_.empty() ? x[i] : std::max(max_, x[i]);
      points_.push_back({x[i], 1.0});
    }
  }

  Range compute_range() const override { return points_.empty() ? Range{} : fit_range(points_, min_, max_, spec_); }

 private:
  QuantSpec spec_;
  std::vector<Point> points_;
  float min_ = 0.0f, max_ = 0.0f;
};

}  // namespace

std::unique_ptr<Observer> make_admm_observer(const ObserverConfig& config) {
  return std::make_unique<AdmmHistogramObserver>(config.spec);
}

std::unique_ptr<Observer> make_admm_weight_observer(const ObserverConfig& config) {
  return std::make_unique<AdmmValuesObserver>(config.spec);
}

}  // namespace ptq::calib
