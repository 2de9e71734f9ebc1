// SPDX-License-Identifier: Apache-2.0
// Reader gains (ptq/calib/reader_gain.h): the bin weights by hand, and the kl and mse observers against
// brute-force searches on raw values with the readers' weighting (Pow: clipping the top costs more) and
// the percentile floor (Log: the top is not clipped below the percentile range).
#include "ptq/calib/reader_gain.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "ptq/calib/observer.h"
#include "ptq/quant/scale.h"

using namespace ptq;
using namespace ptq::calib;

namespace {

const QuantSpec kUInt8{QType::UInt8, false, false};
constexpr double kGuard = 2.0;       // kl.cpp's kMaxExcessError
constexpr double kHistSlack = 0.03;  // 2048-bin histogram search vs brute force on raw values

Range run(const char* method, const ObserverConfig& config, const std::vector<float>& v) {
  auto obs = find_observer(method).make_activation(config);
  obs->observe(v.data(), v.size());
  return obs->compute_range();
}

// sum w(x)·(fq(x) - x)^2 on the raw values, w(x) = x^(2k) (one power-law reader, unnormalised).
double weighted_error(const std::vector<float>& v, const Range& r, double k) {
  const QParams p = compute_qparams(r, kUInt8);
  double err = 0.0;
  for (float x : v) {
    const double d = static_cast<double>(fake_quantize_value(x, p.scale[0], p.zero_point[0], p.type)) - x;
    err += std::pow(std::fabs(static_cast<double>(x)), 2.0 * k) * d * d;
  }
  return err;
}

// |x| of a Laplacian: a long tail.
std::vector<float> magnitudes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = e(rng);
  return v;
}

}  // namespace

TEST(ReaderGain, WeightsByHand) {
  const std::vector<double> centres{1.0, 2.0, 3.0}, counts{1.0, 1.0, 2.0};
  ReaderGain linear;
  linear.add_power(0.0);
  EXPECT_FALSE(linear.weighted());
  EXPECT_EQ(reader_weights(linear, centres, counts), (std::vector<double>{1.0, 1.0, 1.0}));
  // Pow(x, 2): g^2 = c^2 = 1, 4, 9; count-weighted mean (1 + 4 + 2·9) / 4 = 5.75.
  ReaderGain square;
  square.add_power(1.0);
  square.add_power(1.0);  // once per distinct exponent
  ASSERT_EQ(square.powers.size(), 1u);
  std::vector<double> w = reader_weights(square, centres, counts);
  EXPECT_NEAR(w[0], 1.0 / 5.75, 1e-12);
  EXPECT_NEAR(w[1], 4.0 / 5.75, 1e-12);
  EXPECT_NEAR(w[2], 9.0 / 5.75, 1e-12);
  // With a linear reader too: 1 + the above.
  square.add_power(0.0);
  w = reader_weights(square, centres, counts);
  EXPECT_NEAR(w[2], 1.0 + 9.0 / 5.75, 1e-12);
  // Exp: g^2 = e^(2c), relative to the top: e^-4, e^-2, 1; mean (e^-4 + e^-2 + 2) / 4.
  ReaderGain exp;
  exp.exponential = true;
  EXPECT_TRUE(exp.weighted());
  w = reader_weights(exp, centres, counts);
  const double mean = (std::exp(-4.0) + std::exp(-2.0) + 2.0) / 4.0;
  EXPECT_NEAR(w[0], std::exp(-4.0) / mean, 1e-12);
  EXPECT_NEAR(w[2], 1.0 / mean, 1e-12);
  // Log (k < 0): no weighting; the percentile floor instead.
  ReaderGain log;
  log.add_power(-1.0);
  EXPECT_FALSE(log.weighted());
  EXPECT_TRUE(log.keeps_top());
  EXPECT_EQ(reader_weights(log, centres, counts), (std::vector<double>{1.0, 1.0, 1.0}));
}

TEST(ReaderGain, SquaredReaderWeighsTheTail) {
  // |Laplacian| squared by its reader: mse minimises sum x^2 (fq(x) - x)^2 (brute force over the top
  // on raw values), kl stays within its guard of that least error; both keep more of the tail than
  // the plain searches do.
  const std::vector<float> v = magnitudes(100000, 3);
  const float hi = *std::max_element(v.begin(), v.end()), lo = *std::min_element(v.begin(), v.end());
  double best = std::numeric_limits<double>::infinity();
  for (int j = 1; j <= 400; ++j) best = std::min(best, weighted_error(v, Range{lo, hi * j / 400.0f}, 1.0));
  ObserverConfig plain;
  plain.spec = kUInt8;
  ObserverConfig squared = plain;
  squared.gain.add_power(1.0);
  const Range mse = run("mse", squared, v), kl = run("kl", squared, v);
  EXPECT_LE(weighted_error(v, mse, 1.0), best * (1.0 + kHistSlack));
  EXPECT_LE(weighted_error(v, kl, 1.0), kGuard * best * (1.0 + kHistSlack));
  EXPECT_GT(mse.hi, run("mse", plain, v).hi);
  EXPECT_GT(kl.hi, run("kl", plain, v).hi);
}

TEST(ReaderGain, LogReaderKeepsThePercentileTop) {
  // A power spectrum-like tensor (|Laplacian|^4: most values near 0, a long tail): counting values,
  // kl and mse clip the top below percentile's; read by a Log they keep at least its range.
  std::vector<float> v = magnitudes(100000, 5);
  for (float& x : v) x = x * x * x * x;
  ObserverConfig plain;
  plain.spec = kUInt8;
  ObserverConfig log = plain;
  log.gain.add_power(-1.0);
  const Range pct = run("percentile", plain, v);
  for (const char* method : {"kl", "mse"}) {
    EXPECT_LT(run(method, plain, v).hi, pct.hi) << method;  // else the rule would not be tested
    EXPECT_GE(run(method, log, v).hi, pct.hi) << method;
  }
}
