// SPDX-License-Identifier: Apache-2.0
// GPTQ and AWQ on small matrices, against independent references:
//  - gptq_rows against a naive re-implementation of the same greedy procedure in its original (OBQ)
//    form — the full inverse Hessian, updated by removing one row and column at a time, no Cholesky, no
//    blocks — on correlated inputs, with act_order off and on, blocks smaller than the depth;
//  - GPTQ's output error at most rounding-to-nearest's on correlated inputs (and well below it);
//  - dead inputs (never non-zero) get weight 0 and do not break the factorisation;
//  - AWQ's α search on a toy where one input channel carries 10x the activation: α > 0, loss below RTN's.
#include "ptq/transform/gptq.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <numeric>
#include <random>

#include "ptq/transform/awq.h"

using namespace ptq;
using namespace ptq::transform;

namespace {

constexpr int64_t kRows = 6, kDepth = 13, kColumns = 400;
constexpr double kDamp = 0.01;
constexpr double kMaxMismatch = 0.02;  // share of elements whose rounding may differ (float ties)
constexpr double kMinGain = 0.2;       // GPTQ removes at least this share of RTN's output error here

// Correlated inputs: x = A·z, z standard normal, A random (seeded).
Columns correlated_inputs(int64_t depth, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Eigen::MatrixXf a(depth, depth), z(depth, n);
  for (int64_t i = 0; i < a.size(); ++i) a.data()[i] = g(rng);
  a += 2.0f * Eigen::MatrixXf::Ones(depth, depth);  // strong common component
  for (int64_t i = 0; i < z.size(); ++i) z.data()[i] = g(rng);
  Columns x;
  x.rows = depth;
  x.cols = n;
  Eigen::MatrixXf m = a * z;
  x.data.assign(m.data(), m.data() + m.size());
  return x;
}

std::vector<float> random_weights(int64_t rows, int64_t depth, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * depth));
  for (float& v : w) v = u(rng);
  return w;
}

// A 4-bit symmetric grid per row: step max|w_row| / 7, codes [-8, 7].
std::function<float(int64_t, int64_t, float)> row_grid(const std::vector<float>& w, int64_t rows, int64_t depth) {
  std::vector<float> step(static_cast<size_t>(rows));
  for (int64_t o = 0; o < rows; ++o) {
    float m = 0.0f;
    for (int64_t k = 0; k < depth; ++k) m = std::max(m, std::fabs(w[static_cast<size_t>(o * depth + k)]));
    step[static_cast<size_t>(o)] = m / 7.0f;
  }
  return [step](int64_t o, int64_t, float v) {
    const float s = step[static_cast<size_t>(o)];
    return std::clamp(std::nearbyint(v / s), -8.0f, 7.0f) * s;
  };
}

// The naive reference: OBQ's greedy step for a fixed column order, with the explicit inverse Hessian.
std::vector<float> naive_gptq(const std::vector<float>& w_in, int64_t rows, int64_t depth, const std::vector<double>& hessian,
                              const std::function<float(int64_t, int64_t, float)>& quantize, bool act_order) {
  Eigen::MatrixXd h(depth, depth), w(rows, depth);
  for (int64_t i = 0; i < depth; ++i)
    for (int64_t j = 0; j < depth; ++j) h(i, j) = hessian[static_cast<size_t>(i * depth + j)];
  for (int64_t o = 0; o < rows; ++o)
    for (int64_t k = 0; k < depth; ++k) w(o, k) = w_in[static_cast<size_t>(o * depth + k)];
  std::vector<int64_t> order(static_cast<size_t>(depth));
  std::iota(order.begin(), order.end(), 0);
  if (act_order) std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  const double damp = kDamp * h.diagonal().mean();
  h.diagonal().array() += damp;
  Eigen::MatrixXd hinv = h.inverse();
  std::vector<float> q(w_in.size());
  for (int64_t step = 0; step < depth; ++step) {
    const int64_t i = order[static_cast<size_t>(step)];
    const double d = hinv(i, i);
    for (int64_t o = 0; o < rows; ++o) {
      const float qi = quantize(o, i, static_cast<float>(w(o, i)));
      q[static_cast<size_t>(o * depth + i)] = qi;
      const double e = (w(o, i) - qi) / d;
      for (int64_t t = step + 1; t < depth; ++t) {
        const int64_t j = order[static_cast<size_t>(t)];
        w(o, j) -= e * hinv(i, j);
      }
    }
    const Eigen::VectorXd col = hinv.col(i);  // remove input i: H⁻¹ ← H⁻¹ − H⁻¹[:, i]·H⁻¹[i, :] / H⁻¹[i, i]
    hinv -= col * col.transpose() / d;
  }
  return q;
}

double mismatch(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += a[i] != b[i];
  return static_cast<double>(n) / static_cast<double>(a.size());
}

}  // namespace

TEST(Gptq, MatchesNaiveObqReference) {
  const Columns x = correlated_inputs(kDepth, kColumns, 11);
  const std::vector<double> h = hessian_of(x);
  const std::vector<float> w = random_weights(kRows, kDepth, 12);
  const auto grid = row_grid(w, kRows, kDepth);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.block = 4;  // several lazy batches, the last one partial
    o.act_order = act_order;
    const std::vector<float> got = gptq_rows(w, kRows, kDepth, h, grid, o);
    const std::vector<float> want = naive_gptq(w, kRows, kDepth, h, grid, act_order);
    EXPECT_LE(mismatch(got, want), kMaxMismatch) << "act_order " << act_order;
    EXPECT_NEAR(relative_output_error(w, got, kRows, kDepth, h), relative_output_error(w, want, kRows, kDepth, h), 1e-3)
        << "act_order " << act_order;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_EQ(got[i], grid(static_cast<int64_t>(i) / kDepth, static_cast<int64_t>(i) % kDepth, got[i])) << "off the grid at " << i;
  }
}

TEST(Gptq, BeatsRoundToNearestOnCorrelatedInputs) {
  const Columns x = correlated_inputs(kDepth, kColumns, 21);
  const std::vector<double> h = hessian_of(x);
  const std::vector<float> w = random_weights(kRows, kDepth, 22);
  const auto grid = row_grid(w, kRows, kDepth);
  std::vector<float> rtn(w.size());
  for (size_t i = 0; i < w.size(); ++i) rtn[i] = grid(static_cast<int64_t>(i) / kDepth, static_cast<int64_t>(i) % kDepth, w[i]);
  const double e_rtn = relative_output_error(w, rtn, kRows, kDepth, h);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.act_order = act_order;
    const double e = relative_output_error(w, gptq_rows(w, kRows, kDepth, h, grid, o), kRows, kDepth, h);
    EXPECT_LE(e, (1.0 - kMinGain) * e_rtn) << "act_order " << act_order << ": GPTQ " << e << ", RTN " << e_rtn;
  }
}

TEST(Gptq, DeadInputsGetZeroWeights) {
  Columns x = correlated_inputs(kDepth, kColumns, 31);
  for (int64_t c = 0; c < x.cols; ++c) x.data[static_cast<size_t>(c * x.rows + 3)] = 0.0f;  // input 3 never fires
  const std::vector<double> h = hessian_of(x);
  EXPECT_EQ(h[3 * kDepth + 3], 0.0);
  const std::vector<float> w = random_weights(kRows, kDepth, 32);
  const std::vector<float> q = gptq_rows(w, kRows, kDepth, h, row_grid(w, kRows, kDepth), GptqOptions{});
  for (int64_t o = 0; o < kRows; ++o) EXPECT_EQ(q[static_cast<size_t>(o * kDepth + 3)], 0.0f);
  for (float v : q) EXPECT_TRUE(std::isfinite(v));
}

TEST(Awq, ScalesUpTheChannelWithLargeActivations) {
  // Inputs: channel 0 carries 10x the others; weights of channel 0 are small (so a per-row grid set by
  // the other channels rounds them coarsely): scaling channel 0 up must pay.
  constexpr int64_t depth = 8, rows = 4, n = 300;
  std::mt19937 rng(41);
  std::normal_distribution<float> g(0.0f, 1.0f);
  Columns x;
  x.rows = depth;
  x.cols = n;
  for (int64_t c = 0; c < n; ++c)
    for (int64_t k = 0; k < depth; ++k) x.data.push_back(g(rng) * (k == 0 ? 10.0f : 1.0f));
  std::vector<float> w = random_weights(rows, depth, 42);
  for (int64_t o = 0; o < rows; ++o) w[static_cast<size_t>(o * depth)] *= 0.08f;
  std::vector<double> mean_abs(depth, 0.0);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t k = 0; k < depth; ++k) mean_abs[static_cast<size_t>(k)] += std::fabs(x.at(k, c)) / n;
  auto quantize = [&](size_t, const std::vector<float>& scaled) {  // fresh per-row 4-bit grid of the scaled rows
    const auto grid = row_grid(scaled, rows, depth);
    std::vector<float> q(scaled.size());
    for (size_t i = 0; i < q.size(); ++i) q[i] = grid(static_cast<int64_t>(i) / depth, 0, scaled[i]);
    return q;
  };
  std::vector<double> scales;
  double loss_rtn = 0.0, loss = 0.0;
  const float alpha = awq_search(mean_abs, {w}, {rows}, hessian_of(x), quantize, &scales, &loss_rtn, &loss);
  EXPECT_GT(alpha, 0.0f);
  EXPECT_LT(loss, 0.8 * loss_rtn) << "alpha " << alpha;
  ASSERT_EQ(scales.size(), static_cast<size_t>(depth));
  for (int64_t k = 1; k < depth; ++k) EXPECT_GT(scales[0], scales[static_cast<size_t>(k)]);
  // α = 0 is plain rounding: the loss reported for it is RTN's on this quantizer.
  std::vector<double> ones;
  double l0 = 0.0, l1 = 0.0;
  awq_search(std::vector<double>(depth, 1.0), {w}, {rows}, hessian_of(x), quantize, &ones, &l0, &l1);
  EXPECT_DOUBLE_EQ(l0, loss_rtn);
}
