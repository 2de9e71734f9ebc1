// SPDX-License-Identifier: Apache-2.0
// WindowSearch (see window_search.h).
#include "window_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ptq/quant/scale.h"

namespace ptq::calib {
namespace {

constexpr double kEps = 1e-4;  // KL smoothing (ORT/MXNet smooth_distribution)
constexpr int kMaxRounds = 4;  // coordinate-descent rounds when both edges move
constexpr int kStride = 8;     // coarse sweep: every 8th bin position

// Smooths counts in place (zero entries get eps, the others lose eps·n_zero/n_nonzero) and
// normalises; false when all are zero.
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

}  // namespace

// A top bin holding at least this share of the counted values is a saturation (a Clip or Relu6 output
// pinned at its bound, an image's white pixels), not a tail: a smooth tail's last of 2048 bins holds a
// handful of values. MobileNetV1-0.25: kl clipped three Relu6 outputs to 5.93-5.96 and the input to
// 0.992; every saturated value then moves by the same amount, a bias the readers accumulate.
constexpr double kSaturatedShare = 1e-3;

WindowSearch::WindowSearch(const std::vector<double>& counts, double lo, double width, bool absolute, const QuantSpec& spec,
                           const ReaderGain& gain, double percentile)
    : counts_(counts), lo_(absolute ? 0.0 : lo), width_(width), absolute_(absolute), spec_(spec) {
  const size_t n = counts.size();
  std::vector<double> centres(n);
  for (size_t k = 0; k < n; ++k) centres[k] = centre(static_cast<int>(k));
  weight_ = reader_weights(gain, centres, counts);
  n_.assign(n + 1, 0.0);
  nw_.assign(n + 1, 0.0);
  nwc_.assign(n + 1, 0.0);
  nwcc_.assign(n + 1, 0.0);
  for (size_t k = 0; k < n; ++k) {
    const double c = centres[k], v = counts[k], vw = v * weight_[k];
    n_[k + 1] = n_[k] + v;
    nw_[k + 1] = nw_[k] + vw;
    nwc_[k + 1] = nwc_[k] + vw * c;
    nwcc_[k + 1] = nwcc_[k] + vw * c * c;
  }
  if (gain.keeps_top()) {
    const double keep = percentile / 100.0, share = absolute ? keep : 1.0 - (1.0 - keep) / 2.0;
    while (least_top_ < bins() && n_[static_cast<size_t>(least_top_)] < share * n_.back()) ++least_top_;
  }
  // Saturated ends (the bottom only on a two-sided histogram: a |x| histogram's first bin is about 0).
  const double saturated = kSaturatedShare * n_.back();
  int top = bins(), bottom = 0;  // one past the last occupied bin; the first occupied bin
  while (top > 0 && counts_[static_cast<size_t>(top - 1)] == 0.0) --top;
  while (bottom < bins() && counts_[static_cast<size_t>(bottom)] == 0.0) ++bottom;
  if (top > 0 && counts_[static_cast<size_t>(top - 1)] >= saturated) least_top_ = std::max(least_top_, top);
  if (!absolute_ && bottom < bins() && counts_[static_cast<size_t>(bottom)] >= saturated) greatest_bottom_ = bottom;
}

Range WindowSearch::range(int a, int e) const {
  if (absolute_) return Range{static_cast<float>(-e * width_), static_cast<float>(e * width_)};
  return Range{static_cast<float>(lo_ + a * width_), static_cast<float>(lo_ + e * width_)};
}

int64_t WindowSearch::levels() const {
  return absolute_ ? (spec_.qmax() - spec_.qmin()) / 2 + 1 : spec_.qmax() - spec_.qmin() + 1;
}

void WindowSearch::grid(int a, int e) {
  const QParams qp = compute_qparams(range(a, e), spec_);
  scale_ = qp.scale[0];
  zero_point_ = qp.zero_point[0];
  qmin_ = static_cast<double>(spec_.qmin());
  qmax_ = static_cast<double>(spec_.qmax());
}

double WindowSearch::code(int k) const {
  return std::clamp(std::nearbyint(centre(k) / scale_) + zero_point_, qmin_, qmax_);
}

double WindowSearch::squared_error(int a, int e) {
  grid(a, e);
  double err = 0.0;
  for (int k = a; k < e; ++k) {
    const double n = counts_[static_cast<size_t>(k)] * weight_[static_cast<size_t>(k)];
    if (n == 0.0) continue;
    const double d = (code(k) - zero_point_) * scale_ - centre(k);
    err += n * d * d;
  }
  // Clipped bins all take the end codes (their centres lie beyond the grid's end levels).
  auto clipped = [&](size_t first, size_t last, double v) {
    const double n = nw_[last] - nw_[first], nc = nwc_[last] - nwc_[first], ncc = nwcc_[last] - nwcc_[first];
    return std::max(0.0, v * v * n - 2.0 * v * nc + ncc);
  };
  err += clipped(0, static_cast<size_t>(a), (qmin_ - zero_point_) * scale_);
  err += clipped(static_cast<size_t>(e), counts_.size(), (qmax_ - zero_point_) * scale_);
  return err;
}

// Q over window positions [first, last) (one level): the level's unclipped count over its nonzero P bins.
void WindowSearch::spread(size_t first, size_t last, int a) {
  const double count = n_[static_cast<size_t>(a) + last] - n_[static_cast<size_t>(a) + first];
  int nonzero = 0;
  for (size_t k = first; k < last; ++k) nonzero += p_[k] != 0.0;
  if (nonzero == 0) return;
  for (size_t k = first; k < last; ++k)
    if (p_[k] != 0.0) q_[k] = count / nonzero;
}

double WindowSearch::divergence(int a, int e) {
  grid(a, e);
  const size_t n = static_cast<size_t>(e - a);
  p_.assign(counts_.begin() + a, counts_.begin() + e);
  p_.front() += n_[static_cast<size_t>(a)];
  p_.back() += n_.back() - n_[static_cast<size_t>(e)];
  q_.assign(n, 0.0);
  size_t start = 0;
  double level = code(a);
  for (size_t k = 1; k <= n; ++k) {
    const double c = k < n ? code(a + static_cast<int>(k)) : std::numeric_limits<double>::quiet_NaN();
    if (c == level) continue;
    spread(start, k, a);
    start = k;
    level = c;
  }
  if (!smooth(p_) || !smooth(q_)) return std::numeric_limits<double>::infinity();
  double kl = 0.0;
  for (size_t k = 0; k < n; ++k) kl += p_[k] * std::log(p_[k] / q_[k]);
  return kl;
}

// Scores candidates [first, end) of c (their edges set): errors, then the KL of the eligible ones.
void WindowSearch::score(std::vector<Candidate>& c, size_t first, Window w, bool upper, double kl_guard) {
  auto window = [&](const Candidate& x) { return upper ? Window{w.a, x.edge} : Window{x.edge, w.e}; };
  for (size_t i = first; i < c.size(); ++i) {
    const Window x = window(c[i]);
    c[i].error = squared_error(x.a, x.e);
    c[i].kl = std::numeric_limits<double>::infinity();
  }
  if (kl_guard <= 0.0) return;
  double least = std::numeric_limits<double>::infinity();
  for (const auto& x : c) least = std::min(least, x.error);
  for (auto& x : c)
    if (x.error <= kl_guard * least && std::isinf(x.kl)) {
      const Window y = window(x);
      x.kl = divergence(y.a, y.e);
    }
}

int WindowSearch::sweep(Window w, bool upper, int min_width, double kl_guard, const Pick& pick) {
  const double zero_edge = -lo_ / width_;  // 0 lies at this (fractional) bin position
  // Positions narrowest first: e ascending (upper) or a descending (lower).
  int first, last;
  if (upper) {
    first = std::max({static_cast<int>(std::ceil(zero_edge)), w.a + min_width, w.a + 1, least_top_});
    last = bins();
  } else {
    first = std::min({static_cast<int>(std::floor(zero_edge)), w.e - min_width, w.e - 1, greatest_bottom_});
    last = 0;
  }
  const int step = upper ? 1 : -1, count = (last - first) * step + 1;
  if (count <= 0) return upper ? w.e : w.a;
  auto position = [&](int i) { return first + i * step; };
  std::vector<Candidate> c;
  for (int i = 0; i < count; i += kStride) c.push_back(Candidate{position(i)});
  if ((count - 1) % kStride != 0) c.push_back(Candidate{position(count - 1)});
  score(c, 0, w, upper, kl_guard);
  const int chosen = (c[pick(c)].edge - first) * step;
  const size_t coarse = c.size();
  for (int i = std::max(0, chosen - kStride + 1); i < std::min(count, chosen + kStride); ++i)
    if (i % kStride != 0 && i != count - 1) c.push_back(Candidate{position(i)});
  score(c, coarse, w, upper, kl_guard);
  std::sort(c.begin(), c.end(), [&](const Candidate& x, const Candidate& y) { return (x.edge - y.edge) * step < 0; });
  return c[pick(c)].edge;
}

Window WindowSearch::descend(int min_width, double kl_guard, const Pick& pick) {
  Window w{0, bins()};
  const bool both = lower_free() && upper_free();
  for (int round = 0; round < kMaxRounds; ++round) {
    const Window before = w;
    if (upper_free()) w.e = sweep(w, true, min_width, kl_guard, pick);
    if (lower_free()) w.a = sweep(w, false, min_width, kl_guard, pick);
    if (!both || (w.a == before.a && w.e == before.e)) break;
  }
  return w;
}

}  // namespace ptq::calib
