// SPDX-License-Identifier: Apache-2.0
// Weight observers (--weight-range): the table, the MSE clipping search against a brute-force optimum
// and min/max on synthetic weights, the calibrator's use of --weight-range, and calibrate_weights.
#include <cmath>
#include <random>

#include "observer_testutil.h"
#include "ptq/calib/calibrator.h"
#include "ptq/calib/observer.h"
#include "ptq/quant/scale.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::calib;
using ptq::test::raw_mse;

namespace {

constexpr int kBruteForceSteps = 4000;  // thresholds the reference tries (the observer: 100 + 18 refined)
constexpr double kMseSlack = 0.001;     // the observer's error may exceed the brute-force optimum by 0.1% (measured ≤ 0.03%)
// Gaussian weights with 1% outliers at 6 sigma on a 4-bit grid: clipping must win by at least this
// factor over min/max (measured: error 0.72-0.78x of min/max's).
constexpr double kInt4ClipGain = 0.8;

const QuantSpec kInt4Sym{QType::Int4, true, false};
const QuantSpec kUInt4Sym{QType::UInt4, true, false};
const QuantSpec kInt8Sym{QType::Int8, true, false};

// A channel of weights: Gaussian, sigma 0.05, with a few outliers at ±6 sigma.
std::vector<float> weights(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  for (size_t i = 0; i < n; i += 100) v[i] = (i / 100) % 2 ? 0.3f : -0.3f;
  return v;
}

Range observe(const std::string& name, const std::vector<float>& v, const QuantSpec& spec) {
  ObserverConfig cfg;
  cfg.spec = spec;
  auto obs = find_weight_observer(name).make(cfg);
  obs->observe(v.data(), v.size());
  return obs->compute_range();
}

// Smallest error over kBruteForceSteps symmetric thresholds in (0, absmax].
double brute_force_optimum(const std::vector<float>& v, const QuantSpec& spec) {
  float absmax = 0.0f;
  for (float x : v) absmax = std::max(absmax, std::fabs(x));
  double best = INFINITY;
  for (int k = 1; k <= kBruteForceSteps; ++k) {
    const float t = absmax * static_cast<float>(k) / kBruteForceSteps;
    best = std::min(best, raw_mse(v, Range{-t, t}, spec));
  }
  return best;
}

}  // namespace

TEST(WeightObserverTable, RowsAreLookedUpAndUnknownNamesListed) {
  for (const auto& e : weight_observer_table()) {
    EXPECT_EQ(&find_weight_observer(e.name), &e);
    EXPECT_NE(e.make, nullptr) << e.name;
  }
  try {
    find_weight_observer("percentile");
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown weight range 'percentile'; expected one of: minmax, mse, admm"), std::string::npos)
        << e.what();
  }
}

TEST(MseWeights, NearTheBruteForceOptimumAndNeverWorseThanMinMax) {
  for (const QuantSpec& spec : {kInt4Sym, kUInt4Sym, kInt8Sym})
    for (uint32_t seed : {1u, 2u, 3u}) {
      const std::string what = qtype_name(spec.type) + " seed " + std::to_string(seed);
      std::vector<float> v = weights(1000, seed);
      const Range mse = observe("mse", v, spec), minmax = observe("minmax", v, spec);
      const double err = raw_mse(v, mse, spec), err_minmax = raw_mse(v, minmax, spec);
      EXPECT_LE(err, err_minmax) << what;
      EXPECT_LE(err, (1.0 + kMseSlack) * brute_force_optimum(v, spec)) << what;
      if (qtype_bits(spec.type) == 4) {
        EXPECT_LT(err, kInt4ClipGain * err_minmax) << what;
        EXPECT_LT(mse.hi, minmax.hi) << what << ": the outliers are clipped";
      }
    }
}

TEST(MseWeights, OneSignedChannelsGiveValidRanges) {
  // All negative (the threshold below |max| would otherwise give lo > hi) and all positive.
  for (const std::vector<float>& v : {std::vector<float>{-39.9f, -0.56f, -3.0f, -2.5f}, std::vector<float>{0.1f, 0.2f, 5.0f}}) {
    Range r = observe("mse", v, kInt4Sym);
    ASSERT_LE(r.lo, r.hi);
    EXPECT_LE(raw_mse(v, r, kInt4Sym), raw_mse(v, observe("minmax", v, kInt4Sym), kInt4Sym));
  }
}

namespace {

// y = MatMul(x, W), W [6, 4] per column (axis 1).
Graph matmul_model() {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,6] x) => (float[2,4] y) {
  y = MatMul(x, W)
}
)");
  Tensor w = test::random_tensor({6, 4}, 5, -1.0f, 1.0f);
  w.data<float>()[3] = 9.0f;  // an outlier in column 3
  test::add_initializer(m, "W", w);
  return build_graph(m);
}

class OneSample : public DataReader {
 public:
  size_t size() const override { return 1; }
  Sample read(size_t) const override { return Sample{"s0", {{"x", test::random_tensor({2, 6}, 6)}}}; }
  std::string describe() const override { return "memory"; }
};

}  // namespace

TEST(WeightRange, CalibratorUsesItForWeightsOnly) {
  Graph g = matmul_model();
  const std::vector<CalibTarget> targets = {{"x", QuantSpec{QType::UInt8, false, false}, -1, false}, {"W", kInt4Sym, 1, true}};
  CalibOptions o;
  o.method = "percentile";
  o.progress = false;
  CalibTable plain = calibrate(g, targets, OneSample(), o);
  o.weight_range = "mse";
  CalibTable mse = calibrate(g, targets, OneSample(), o);
  EXPECT_EQ(mse.tensors.at("W").method, "mse");
  EXPECT_EQ(mse.tensors.at("x").method, "percentile");
  EXPECT_EQ(mse.tensors.at("x").qparams.scale, plain.tensors.at("x").qparams.scale);
  EXPECT_EQ(plain.tensors.at("W").method, "percentile");  // the method's weight column: min/max
  // The weight ranges are what the observer gives on each column.
  const Tensor& w = *g.weight("W");
  for (int c = 0; c < 4; ++c) {
    std::vector<float> col;
    for (int r = 0; r < 6; ++r) col.push_back(w.data<float>()[r * 4 + c]);
    const Range want = observe("mse", col, kInt4Sym);
    EXPECT_EQ(mse.tensors.at("W").range[static_cast<size_t>(c)].lo, want.lo) << c;
    EXPECT_EQ(mse.tensors.at("W").range[static_cast<size_t>(c)].hi, want.hi) << c;
  }
  EXPECT_LT(mse.tensors.at("W").qparams.scale[3], plain.tensors.at("W").qparams.scale[3]);  // the outlier is clipped
  // calibrate_weights: the same weight parameters, no data.
  CalibTable weights_only = calibrate_weights(g, {targets[1]}, "mse");
  EXPECT_EQ(weights_only.tensors.size(), 1u);
  EXPECT_EQ(weights_only.tensors.at("W").qparams.scale, mse.tensors.at("W").qparams.scale);
  EXPECT_THROW(calibrate_weights(g, targets, "mse"), Error);  // x is not a weight
}
