// SPDX-License-Identifier: Apache-2.0
// Pow2Histogram: one pass, any order, the counts of a direct histogram at the final width. References:
// the bins floor(v / w) counted here with the width the header documents (the least power of two at
// which the whole range fits in the capacity), and hand-computed merges.
#include "pow2_histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

using ptq::calib::Pow2Histogram;

namespace {

struct Direct {
  double lo, width;
  std::vector<double> counts;
};

// The histogram of v over [lo, hi] (a span holding every value) as the header defines it.
Direct direct(const std::vector<float>& v, double lo, double hi, int capacity, bool absolute, bool skip_zeros) {
  auto needed = [&](double w) { return std::floor(hi / w) - std::floor(lo / w) + 1.0; };
  double w = 1.0;
  while (needed(w) > capacity) w *= 2.0;
  while (needed(w / 2.0) <= capacity) w /= 2.0;
  Direct d{std::floor(lo / w) * w, w, std::vector<double>(static_cast<size_t>(needed(w)), 0.0)};
  for (float x : v) {
    const double a = absolute ? std::fabs(static_cast<double>(x)) : x;
    if (skip_zeros && a == 0.0) continue;
    d.counts[static_cast<size_t>(std::floor(a / w) - std::floor(lo / w))] += 1.0;
  }
  return d;
}

void add_all(Pow2Histogram& h, const std::vector<float>& v, size_t chunk, bool absolute, bool skip_zeros) {
  for (size_t i = 0; i < v.size(); i += chunk) {
    const size_t n = std::min(chunk, v.size() - i);
    auto mm = std::minmax_element(v.begin() + static_cast<long>(i), v.begin() + static_cast<long>(i + n));
    double lo = *mm.first, hi = *mm.second;
    if (absolute) hi = std::max(std::fabs(lo), std::fabs(hi)), lo = 0.0;
    h.add(v.data() + i, n, lo, hi, absolute, skip_zeros);
  }
}

void expect_equal(const Pow2Histogram& h, const Direct& d, const char* what) {
  EXPECT_EQ(h.lo(), d.lo) << what;
  EXPECT_EQ(h.width(), d.width) << what;
  EXPECT_EQ(h.counts(), d.counts) << what;
}

// A range that grows as the samples go: each chunk of 500 has a wider spread than the one before.
std::vector<float> growing(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(20000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.3f + g(rng) * std::pow(1.5f, static_cast<float>(i / 500) / 4.0f);
  return v;
}

}  // namespace

TEST(Pow2Histogram, EqualsTheDirectHistogramAtTheFinalWidth) {
  constexpr int kCapacity = 4096;
  for (uint32_t seed : {1u, 2u, 3u}) {
    const std::vector<float> v = growing(seed);
    const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    Pow2Histogram h(kCapacity);
    add_all(h, v, 500, false, false);
    const Direct d = direct(v, lo, hi, kCapacity, false, false);
    expect_equal(h, d, "signed");
    EXPECT_GT(h.counts().size(), static_cast<size_t>(kCapacity / 2));
    EXPECT_LE(h.counts().size(), static_cast<size_t>(kCapacity));
  }
}

TEST(Pow2Histogram, OrderAndGroupingDoNotMatter) {
  // The same values in the growing order, reversed (the widest first), shuffled, and in other
  // chunk sizes: the same bytes.
  const std::vector<float> v = growing(7);
  for (bool absolute : {false, true}) {
    Pow2Histogram ref(1000);
    add_all(ref, v, 500, absolute, false);
    std::vector<float> reversed(v.rbegin(), v.rend()), shuffled = v;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(3));
    for (const auto& order : {reversed, shuffled})
      for (size_t chunk : {size_t{1}, size_t{37}, size_t{500}, v.size()}) {
        Pow2Histogram h(1000);
        add_all(h, order, chunk, absolute, false);
        EXPECT_EQ(h.lo(), ref.lo()) << chunk;
        EXPECT_EQ(h.width(), ref.width()) << chunk;
        EXPECT_EQ(h.counts(), ref.counts()) << chunk;
      }
  }
}

TEST(Pow2Histogram, HandComputedMerges) {
  // Capacity 4. Values 1, 2 (span [1, 2]): w = 0.5 needs bins 2..4 (3), w = 0.25 would need 5: counts
  // [1, 0, 1] from 1.0. Then -1 (span [-1, 2]): w = 0.5 needs 7 bins, 1 needs 4 (bins -1..2): the pairs
  // merge to [1 (-1), 0 (0), 1 (1), 1 (2)] from -1.
  Pow2Histogram h(4);
  const float a[] = {1.0f, 2.0f}, b[] = {-1.0f};
  h.add(a, 2, 1.0, 2.0, false, false);
  EXPECT_EQ(h.lo(), 1.0);
  EXPECT_EQ(h.width(), 0.5);
  EXPECT_EQ(h.counts(), (std::vector<double>{1, 0, 1}));
  h.add(b, 1, -1.0, -1.0, false, false);
  EXPECT_EQ(h.lo(), -1.0);
  EXPECT_EQ(h.width(), 1.0);
  EXPECT_EQ(h.counts(), (std::vector<double>{1, 0, 1, 1}));
}

TEST(Pow2Histogram, APointUntilASecondValue) {
  // All values equal: one bin of width 0 at the value; a second value gives bins holding the first's
  // count; skipped zeros are not counted but their 0 stays in the span.
  Pow2Histogram h(8);
  const std::vector<float> threes(5, 3.0f), zeros(4, 0.0f);
  h.add(threes.data(), threes.size(), 3.0, 3.0, false, true);
  h.add(threes.data(), threes.size(), 3.0, 3.0, false, true);
  EXPECT_EQ(h.lo(), 3.0);
  EXPECT_EQ(h.width(), 0.0);
  EXPECT_EQ(h.counts(), (std::vector<double>{10}));
  h.add(zeros.data(), zeros.size(), 0.0, 0.0, false, true);  // span [0, 3]: w = 0.5, bins 0..6
  EXPECT_EQ(h.lo(), 0.0);
  EXPECT_EQ(h.width(), 0.5);
  EXPECT_EQ(h.counts(), (std::vector<double>{0, 0, 0, 0, 0, 0, 10}));
  Pow2Histogram z(8);
  z.add(zeros.data(), zeros.size(), 0.0, 0.0, true, true);
  EXPECT_FALSE(z.empty());
  EXPECT_EQ(z.counts(), (std::vector<double>{0}));
}

TEST(Pow2Histogram, AbsoluteAndSkippedZerosMatchTheDirectHistogram) {
  std::vector<float> v = growing(5);
  for (size_t i = 0; i < v.size(); i += 3) v[i] = 0.0f;  // a third exact zeros (a ReLU output's)
  double amax = 0.0;
  for (float x : v) amax = std::max(amax, std::fabs(static_cast<double>(x)));
  Pow2Histogram h(2048);
  add_all(h, v, 333, true, true);
  expect_equal(h, direct(v, 0.0, amax, 2048, true, true), "absolute, zeros skipped");
}

TEST(Pow2Histogram, ExtremeMagnitudes) {
  // Tiny and huge spans, and values far from 0 with a narrow spread: the bins stay exact.
  for (float scale : {1e-30f, 1.0f, 1e30f}) {
    std::vector<float> v = growing(9);
    for (float& x : v) x *= scale;
    const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    Pow2Histogram h(4096);
    add_all(h, v, 1000, false, false);
    expect_equal(h, direct(v, lo, hi, 4096, false, false), "scaled");
  }
  std::vector<float> far(3000);
  for (size_t i = 0; i < far.size(); ++i) far[i] = 1.0e6f + 0.0625f * static_cast<float>(i % 100);
  Pow2Histogram h(4096);
  add_all(h, far, 256, false, false);
  expect_equal(h, direct(far, 1.0e6, 1.0e6 + 6.1875, 4096, false, false), "far from 0");
}

namespace {

// The 2048-bin histogram of v over [lo, hi] a second pass would count (the last bin closed on the right).
std::vector<double> two_pass(const std::vector<float>& v, double lo, double hi, int bins) {
  std::vector<double> h(static_cast<size_t>(bins), 0.0);
  const double inv = 1.0 / ((hi - lo) / bins);
  for (float x : v) h[static_cast<size_t>(std::min(std::max((x - lo) * inv, 0.0), bins - 1.0))] += 1.0;
  return h;
}

Pow2Histogram observed(const std::vector<float>& v, int capacity) {
  Pow2Histogram h(capacity);
  add_all(h, v, 1000, false, false);
  return h;
}

}  // namespace

TEST(Pow2Histogram, ResampledSpikesAndSparseTailsAreExact) {
  // 8-bit pixels normalized (p / 127.5 - 1): every fine bin holds one value, so the resampled
  // histogram is the two-pass one bin for bin; so are sparse values (at most two per fine bin, as in a
  // tail).
  constexpr int kBins = 2048;
  std::mt19937 rng(4);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::uniform_real_distribution<float> u(-300.0f, 1000.0f);
  std::vector<float> pixels(50000), sparse(400);
  for (auto& x : pixels) x = std::nearbyint(std::clamp(128.0f + 50.0f * g(rng), 0.0f, 255.0f)) / 127.5f - 1.0f;
  for (auto& x : sparse) x = u(rng);
  for (const auto& v : {pixels, sparse}) {
    const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
    EXPECT_EQ(observed(v, 8 * kBins).resample(lo, hi, kBins), two_pass(v, lo, hi, kBins));
  }
}

TEST(Pow2Histogram, ResampledSmoothDataIsCloseToTheTwoPassHistogram) {
  // Gaussian values, fine bins 4..8 per resampled bin: only fine bins straddling an edge are split
  // (evenly between their least and greatest value). Total variation against the two-pass histogram
  // below kSmoothTv of the mass; the total is kept to rounding.
  constexpr int kBins = 2048;
  constexpr double kSmoothTv = 0.01;
  std::mt19937 rng(6);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(400000);
  for (auto& x : v) x = g(rng);
  const double lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  const std::vector<double> r = observed(v, 8 * kBins).resample(lo, hi, kBins), t = two_pass(v, lo, hi, kBins);
  double tv = 0.0, total = 0.0;
  for (size_t j = 0; j < r.size(); ++j) tv += std::fabs(r[j] - t[j]), total += r[j];
  EXPECT_NEAR(total, static_cast<double>(v.size()), 1e-6 * static_cast<double>(v.size()));
  EXPECT_LT(tv / 2.0 / static_cast<double>(v.size()), kSmoothTv);
}
