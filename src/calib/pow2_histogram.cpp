// SPDX-License-Identifier: Apache-2.0
// Pow2Histogram (see pow2_histogram.h).
#include "pow2_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ptq::calib {
namespace {

int64_t bin_of(double v, int e) { return static_cast<int64_t>(std::floor(std::ldexp(v, -e))); }

// Bins of width 2^e that [lo, hi] touches.
double bins_needed(double lo, double hi, int e) {
  return std::floor(std::ldexp(hi, -e)) - std::floor(std::ldexp(lo, -e)) + 1.0;
}

int64_t half_floor(int64_t k) { return k >= 0 ? k / 2 : -((1 - k) / 2); }

constexpr float kInf = std::numeric_limits<float>::infinity();

}  // namespace

double Pow2Histogram::lo() const { return point_ ? point_value_ : std::ldexp(static_cast<double>(first_), exponent_); }

double Pow2Histogram::width() const { return point_ ? 0.0 : std::ldexp(1.0, exponent_); }

// The least e at which [lo, hi] fits (the bins needed never grow with e): from an estimate a few
// doublings below it, up to the first that fits, then down while a smaller one still does.
void Pow2Histogram::start(double lo, double hi) {
  int e = std::ilogb(hi - lo) - std::ilogb(static_cast<double>(capacity_)) - 2;
  while (bins_needed(lo, hi, e) > capacity_) ++e;
  while (bins_needed(lo, hi, e - 1) <= capacity_) --e;
  exponent_ = e;
  first_ = bin_of(lo, e);
  counts_.clear(), least_.clear(), greatest_.clear();
  resize_back(static_cast<size_t>(bin_of(hi, e) - first_ + 1));
}

void Pow2Histogram::resize_front(size_t n) {
  counts_.insert(counts_.begin(), n, 0.0);
  least_.insert(least_.begin(), n, kInf);
  greatest_.insert(greatest_.begin(), n, -kInf);
}

void Pow2Histogram::resize_back(size_t size) {
  counts_.resize(size, 0.0);
  least_.resize(size, kInf);
  greatest_.resize(size, -kInf);
}

void Pow2Histogram::merge_pairs() {
  const int64_t to_first = half_floor(first_), to_last = half_floor(first_ + static_cast<int64_t>(counts_.size()) - 1);
  const size_t size = static_cast<size_t>(to_last - to_first + 1);
  std::vector<double> counts(size, 0.0);
  std::vector<float> least(size, kInf), greatest(size, -kInf);
  for (size_t i = 0; i < counts_.size(); ++i) {
    const auto j = static_cast<size_t>(half_floor(first_ + static_cast<int64_t>(i)) - to_first);
    counts[j] += counts_[i];
    least[j] = std::min(least[j], least_[i]);
    greatest[j] = std::max(greatest[j], greatest_[i]);
  }
  counts_.swap(counts), least_.swap(least), greatest_.swap(greatest);
  first_ = to_first;
  ++exponent_;
}

// Widens the bins until the held bins and [lo, hi] fit, then adds empty bins up to both.
void Pow2Histogram::cover(double lo, double hi) {
  const int64_t last = first_ + static_cast<int64_t>(counts_.size()) - 1;
  lo = std::min(lo, std::ldexp(static_cast<double>(first_), exponent_));  // a held bin's start lies in it
  hi = std::max(hi, std::ldexp(static_cast<double>(last), exponent_));
  while (bins_needed(lo, hi, exponent_) > capacity_) merge_pairs();
  const int64_t a = bin_of(lo, exponent_), b = bin_of(hi, exponent_);
  if (a < first_) {
    resize_front(static_cast<size_t>(first_ - a));
    first_ = a;
  }
  if (b >= first_ + static_cast<int64_t>(counts_.size())) resize_back(static_cast<size_t>(b - first_ + 1));
}

std::vector<double> Pow2Histogram::resample(double lo, double hi, int bins) const {
  std::vector<double> out(static_cast<size_t>(bins), 0.0);
  const double width = (hi - lo) / bins, inv = width > 0.0 ? 1.0 / width : 0.0, last = bins - 1.0;
  auto bin_at = [&](double v) { return static_cast<int>(std::min(std::max((v - lo) * inv, 0.0), last)); };
  for (size_t k = 0; k < counts_.size(); ++k) {
    const double n = counts_[k];
    if (n == 0.0) continue;
    const double a = std::max(static_cast<double>(least_[k]), lo), b = std::min(static_cast<double>(greatest_[k]), hi);
    const int ja = bin_at(a), jb = bin_at(b);
    if (ja == jb) {  // one value, or all inside one bin
      out[static_cast<size_t>(ja)] += n;
      continue;
    }
    out[static_cast<size_t>(ja)] += 1.0;  // the least and the greatest value are known
    out[static_cast<size_t>(jb)] += 1.0;
    const double rest = n - 2.0;
    for (int j = ja; j <= jb && rest > 0.0; ++j) {
      const double part = std::min(b, lo + (j + 1) * width) - std::max(a, lo + j * width);
      if (part > 0.0) out[static_cast<size_t>(j)] += rest * part / (b - a);
    }
  }
  return out;
}

void Pow2Histogram::add(const float* x, size_t n, double lo, double hi, bool absolute, bool skip_zeros) {
  if (n == 0) return;
  if (!seen_) {
    seen_ = true;
    point_value_ = lo;
    resize_back(1);
  }
  if (point_ && (lo != hi || lo != point_value_)) {  // a second value: bins from here on
    const double held = counts_[0];
    point_ = false;
    start(std::min(lo, point_value_), std::max(hi, point_value_));
    if (held > 0.0) {
      const auto k = static_cast<size_t>(bin_of(point_value_, exponent_) - first_);
      counts_[k] += held;
      least_[k] = std::min(least_[k], static_cast<float>(point_value_));
      greatest_[k] = std::max(greatest_[k], static_cast<float>(point_value_));
    }
  } else if (!point_) {
    cover(lo, hi);
  }
  if (point_) {  // every value is point_value_
    if (skip_zeros && point_value_ == 0.0) return;
    counts_[0] += static_cast<double>(n);
    least_[0] = greatest_[0] = static_cast<float>(point_value_);
    return;
  }
  // Bins of a chunk first (a loop the compiler vectorises), then the counts. v·2^-e is exact and so is
  // its difference with the first bin's index (both are multiples of v·2^-e's last bit), so truncating
  // the clamped difference gives floor(v / w) - first_ exactly; the clamp only guards values outside
  // the span given.
  constexpr size_t kChunk = 4096;
  const double inv = std::ldexp(1.0, -exponent_), base = static_cast<double>(first_);
  const double last = static_cast<double>(counts_.size() - 1);
  const auto skip = static_cast<int32_t>(counts_.size());  // a skipped zero's bin: not counted
  thread_local std::vector<int32_t> scratch;
  scratch.resize(std::min(n, kChunk));
  int32_t* bins = scratch.data();
  double* counts = counts_.data();
  float *least = least_.data(), *greatest = greatest_.data();
  for (size_t i0 = 0; i0 < n; i0 += kChunk) {
    const size_t m = std::min(kChunk, n - i0);
    const float* xs = x + i0;
    for (size_t i = 0; i < m; ++i) {
      const double v = absolute ? std::fabs(static_cast<double>(xs[i])) : static_cast<double>(xs[i]);
      const double b = std::min(std::max(v * inv - base, 0.0), last);
      bins[i] = skip_zeros && v == 0.0 ? skip : static_cast<int32_t>(b);
    }
    for (size_t i = 0; i < m; ++i) {
      const int32_t b = bins[i];
      if (b == skip) continue;
      const float v = absolute ? std::fabs(xs[i]) : xs[i];
      counts[b] += 1.0;
      least[b] = std::min(least[b], v);
      greatest[b] = std::max(greatest[b], v);
    }
  }
}

}  // namespace ptq::calib
