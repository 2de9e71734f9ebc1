// SPDX-License-Identifier: Apache-2.0
// AdaRound: the rectified sigmoid and its gradient against finite differences; the optimiser on a tiny
// linear layer (lower reconstruction error than nearest rounding, h ends in {0, 1}, every weight rounded
// down or up); the whole-model pass on a small CNN (errors, thread-count independence) and the rounded
// weights through replace_weights and the rewrite (the stored integers are the learned ones, bit for bit).
#include "ptq/transform/adaround.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "ptq/calib/calibrator.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/quant/scale.h"
#include "ptq/rewrite/passes.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::transform;

namespace {

constexpr float kFiniteDiffStep = 1e-3f;
constexpr float kGradTol = 2e-3f;  // central differences of a float sigmoid with step 1e-3
constexpr float kInverseTol = 1e-4f;
// On the toy layer AdaRound must remove at least this share of nearest rounding's squared error (it
// removes ~60 %), and the regulariser must have driven at least this share of h(V) to exactly 0 or 1
// (they start at frac(W/s); ~98 % end there, a few stay where the reconstruction holds them).
constexpr double kMinToyGain = 0.4;
constexpr double kMinSaturated = 0.9;
// The same problem learned by the depthwise and the dense path: float sums in another order may flip a
// rounding choice or two, so errors agree to this share of nearest rounding's error.
constexpr double kSameErrorTol = 0.02;

TEST(RectifiedSigmoid, ValuesInverseAndClipping) {
  EXPECT_FLOAT_EQ(rectified_sigmoid(0.0f), 0.5f);  // σ(0)·1.2 − 0.1
  EXPECT_EQ(rectified_sigmoid(10.0f), 1.0f);
  EXPECT_EQ(rectified_sigmoid(-10.0f), 0.0f);
  for (float h : {0.0f, 0.05f, 0.3f, 0.5f, 0.77f, 0.999f})
    EXPECT_NEAR(rectified_sigmoid(rectified_sigmoid_inverse(h)), h, kInverseTol) << h;
}

TEST(RectifiedSigmoid, GradientMatchesFiniteDifferences) {
  // Unclipped for |v| < ln(11) ≈ 2.398; the kinks themselves are avoided.
  for (float v = -4.0f; v <= 4.0f; v += 0.173f) {
    if (std::fabs(std::fabs(v) - std::log(11.0f)) < 0.01f) continue;
    const float fd =
        (rectified_sigmoid(v + kFiniteDiffStep) - rectified_sigmoid(v - kFiniteDiffStep)) / (2.0f * kFiniteDiffStep);
    EXPECT_NEAR(rectified_sigmoid_grad(v), fd, kGradTol) << "v = " << v;
  }
  EXPECT_EQ(rectified_sigmoid_grad(3.0f), 0.0f);
  EXPECT_EQ(rectified_sigmoid_grad(-3.0f), 0.0f);
}

// A random layer y = W·x + b with a coarse grid (4 bits: [-8, 7], scale max|w| / 7 per row) and
// correlated inputs x = A·z (what makes the rounding choices of a row interact).
struct Toy {
  RoundingProblem problem;
  Columns x, t;
  float w(int64_t i, int64_t k) const { return problem.weight[static_cast<size_t>(i * problem.depth + k)]; }
};

Toy toy_layer(int64_t rows, int64_t depth, int64_t columns, uint32_t seed = 42) {
  Toy toy;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  RoundingProblem& p = toy.problem;
  p.rows = rows;
  p.depth = depth;
  const float unit = 1.0f / std::sqrt(static_cast<float>(depth));  // outputs and inputs of order 1
  for (int64_t i = 0; i < rows * depth; ++i) p.weight.push_back(unit * normal(rng));
  for (int64_t i = 0; i < rows; ++i) {
    float amax = 0.0f;
    for (int64_t k = 0; k < depth; ++k) amax = std::max(amax, std::fabs(toy.w(i, k)));
    p.scale.push_back(amax / 7.0f);
    p.lo.push_back(-8.0f);
    p.hi.push_back(7.0f);
    p.bias.push_back(normal(rng));
  }
  std::vector<float> a(static_cast<size_t>(depth * depth)), z(static_cast<size_t>(depth));
  for (float& v : a) v = unit * normal(rng);
  toy.x = Columns{depth, columns, std::vector<float>(static_cast<size_t>(depth * columns), 0.0f)};
  toy.t = Columns{rows, columns, std::vector<float>(static_cast<size_t>(rows * columns), 0.0f)};
  for (int64_t c = 0; c < columns; ++c) {
    for (float& v : z) v = normal(rng);
    for (int64_t k = 0; k < depth; ++k)
      for (int64_t j = 0; j < depth; ++j)
        toy.x.data[static_cast<size_t>(c * depth + k)] +=
            a[static_cast<size_t>(k * depth + j)] * z[static_cast<size_t>(j)];
    for (int64_t i = 0; i < rows; ++i) {
      float y = p.bias[static_cast<size_t>(i)];
      for (int64_t k = 0; k < depth; ++k) y += toy.w(i, k) * toy.x.at(k, c);
      toy.t.data[static_cast<size_t>(c * rows + i)] = y;
    }
  }
  return toy;
}

// Σ over columns of (Σ_k q[k]·s·x[k] + b − t)² for row i.
double row_error(const Toy& toy, int64_t i, const std::vector<float>& q) {
  const RoundingProblem& p = toy.problem;
  double e = 0.0;
  for (int64_t c = 0; c < toy.x.cols; ++c) {
    double y = p.bias[static_cast<size_t>(i)];
    for (int64_t k = 0; k < p.depth; ++k)
      y += static_cast<double>(q[static_cast<size_t>(k)] * p.scale[static_cast<size_t>(i)]) * toy.x.at(k, c);
    e += (y - toy.t.at(i, c)) * (y - toy.t.at(i, c));
  }
  return e;
}

TEST(LearnRounding, BeatsNearestOnATinyLayer) {
  const Toy toy = toy_layer(6, 24, 1024);
  AdaRoundOptions o;
  o.iterations = 1000;
  o.batch = 128;
  o.holdout = 0.0f;  // learned and judged on all columns
  o.scale_search = ScaleSearch::Off;
  const RoundingResult r = learn_rounding(toy.problem, toy.x, toy.t, o);
  const RoundingProblem& p = toy.problem;
  double nearest = 0.0, learned = 0.0;  // computed independently, in double
  for (int64_t i = 0; i < p.rows; ++i) {
    std::vector<float> qn, ql;
    for (int64_t k = 0; k < p.depth; ++k) {
      qn.push_back(std::clamp(std::nearbyint(toy.w(i, k) / p.scale[static_cast<size_t>(i)]), -8.0f, 7.0f));
      ql.push_back(r.offsets[static_cast<size_t>(i * p.depth + k)]);
    }
    nearest += row_error(toy, i, qn);
    learned += row_error(toy, i, ql);
  }
  double reported_nearest = 0.0, reported = 0.0;
  for (int64_t i = 0; i < p.rows; ++i) {
    reported_nearest += r.error_nearest[static_cast<size_t>(i)];
    reported += r.error[static_cast<size_t>(i)];
  }
  EXPECT_NEAR(reported_nearest, nearest, 1e-3 * nearest);
  EXPECT_NEAR(reported, learned, 1e-3 * learned);
  EXPECT_LT(learned, (1.0 - kMinToyGain) * nearest) << "nearest " << nearest << ", AdaRound " << learned;
  EXPECT_GT(r.flipped, 0u);
  size_t saturated = 0;
  for (int64_t i = 0; i < p.rows; ++i)
    for (int64_t k = 0; k < p.depth; ++k) {
      const size_t at = static_cast<size_t>(i * p.depth + k);
      const float ratio = toy.w(i, k) / p.scale[static_cast<size_t>(i)], q = r.offsets[at];
      EXPECT_TRUE(q == std::floor(ratio) || q == std::floor(ratio) + 1.0f) << "W/s " << ratio << " became " << q;
      EXPECT_TRUE(q >= -8.0f && q <= 7.0f);
      if (r.soft[at] == 0.0f || r.soft[at] == 1.0f) {
        ++saturated;
        EXPECT_EQ(q, std::floor(ratio) + r.soft[at]);  // the hard rounding is the soft one where h saturated
      }
    }
  EXPECT_GE(static_cast<double>(saturated), kMinSaturated * static_cast<double>(r.soft.size()));
}

// The soft roundings of two results are the same bits.
void expect_same_soft(const RoundingResult& a, const RoundingResult& b, const char* what) {
  ASSERT_EQ(a.soft.size(), b.soft.size());
  EXPECT_EQ(std::memcmp(a.soft.data(), b.soft.data(), a.soft.size() * sizeof(float)), 0) << what;
}

TEST(LearnRounding, HoldoutLearnsOnTheFirstColumnsAndJudgesOnTheRest) {
  // 768 columns learned on, the last 256 held out: garbage targets there change nothing learned, the
  // errors reported are those of the held-out columns (computed independently), and without holdout
  // the first 768 columns alone teach the same.
  const int64_t columns = 1024, held = 256;
  Toy toy = toy_layer(4, 16, columns);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (int64_t c = columns - held; c < columns; ++c)
    for (int64_t i = 0; i < toy.problem.rows; ++i) toy.t.data[static_cast<size_t>(c * toy.problem.rows + i)] += normal(rng);
  AdaRoundOptions o;
  o.iterations = 400;
  o.batch = 128;
  o.holdout = 0.25f;
  o.scale_search = ScaleSearch::Off;  // the rows' choice of scale is made on the (garbage) held-out columns
  const RoundingResult r = learn_rounding(toy.problem, toy.x, toy.t, o);
  Toy first = toy;
  first.x.cols = first.t.cols = columns - held;
  first.x.data.resize(static_cast<size_t>(first.x.rows * first.x.cols));
  first.t.data.resize(static_cast<size_t>(first.t.rows * first.t.cols));
  AdaRoundOptions all = o;
  all.holdout = 0.0f;
  expect_same_soft(r, learn_rounding(first.problem, first.x, first.t, all), "learned on the first 768 columns");
  const RoundingProblem& p = toy.problem;
  for (int64_t i = 0; i < p.rows; ++i) {
    double e = 0.0, energy = 0.0;
    for (int64_t c = columns - held; c < columns; ++c) {
      double y = p.bias[static_cast<size_t>(i)];
      for (int64_t k = 0; k < p.depth; ++k)
        y += static_cast<double>(r.offsets[static_cast<size_t>(i * p.depth + k)] * p.scale[static_cast<size_t>(i)]) *
             toy.x.at(k, c);
      e += (y - toy.t.at(i, c)) * (y - toy.t.at(i, c));
      energy += static_cast<double>(toy.t.at(i, c)) * toy.t.at(i, c);
    }
    EXPECT_NEAR(r.error[static_cast<size_t>(i)], e, 1e-3 * e) << i;
    EXPECT_NEAR(r.energy[static_cast<size_t>(i)], energy, 1e-4 * energy) << i;
    EXPECT_LE(r.error[static_cast<size_t>(i)], r.error_nearest[static_cast<size_t>(i)]) << i;
  }
}

TEST(LearnRounding, DropMixesFp32InputsIntoTheBatches) {
  // X_q: the inputs with noise (as upstream quantization leaves them), X: the clean ones. Dropping with
  // probability 1 learns what X alone teaches, probability 0 what X_q alone teaches (the same bits),
  // and 0.5 neither.
  const Toy toy = toy_layer(4, 12, 512);
  Columns noisy = toy.x;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (float& v : noisy.data) v += normal(rng);
  AdaRoundOptions o;
  o.iterations = 300;
  o.batch = 64;
  o.scale_search = ScaleSearch::Off;  // the choice of scale is made on X_q: compare what is learned only
  const RoundingResult on_q = learn_rounding(toy.problem, noisy, toy.t, o);
  const RoundingResult on_fp = learn_rounding(toy.problem, toy.x, toy.t, o);
  o.drop_probability = 1.0f;
  expect_same_soft(learn_rounding(toy.problem, noisy, toy.t, o, &toy.x), on_fp, "p = 1");
  o.drop_probability = 0.0f;
  expect_same_soft(learn_rounding(toy.problem, noisy, toy.t, o, &toy.x), on_q, "p = 0");
  o.drop_probability = 0.5f;
  const RoundingResult half = learn_rounding(toy.problem, noisy, toy.t, o, &toy.x);
  EXPECT_NE(std::memcmp(half.soft.data(), on_q.soft.data(), half.soft.size() * sizeof(float)), 0);
  EXPECT_NE(std::memcmp(half.soft.data(), on_fp.soft.data(), half.soft.size() * sizeof(float)), 0);
  // the same for depthwise groups (each row its own group, learned side by side)
  std::vector<Columns> q_groups, fp_groups;
  Columns targets{toy.problem.rows, toy.t.cols, toy.t.data};
  for (int64_t g = 0; g < toy.problem.rows; ++g) q_groups.push_back(noisy), fp_groups.push_back(toy.x);
  o.drop_probability = 0.0f;
  const RoundingResult dw_fp = learn_rounding_depthwise(toy.problem, fp_groups, targets, o);
  o.drop_probability = 1.0f;
  expect_same_soft(learn_rounding_depthwise(toy.problem, q_groups, targets, o, &fp_groups), dw_fp, "depthwise p = 1");
}

TEST(LearnRounding, ScaleSearchLearnsOnTheBetterScalePerRow) {
  // Rows 0-2 get a scale 1.25x too coarse (max|w|/7 · 1.25), rows 3-5 the usual one. Learned: per row
  // the better held-out error of the given scale's learned rounding and another multiple's, so never
  // worse than without the search, better on the coarse rows; Nearest: the multiple whose nearest
  // rounding reconstructs best, which for the coarse rows is a finer one.
  Toy toy = toy_layer(6, 24, 1024);
  for (size_t i = 0; i < 3; ++i) toy.problem.scale[i] *= 1.25f;
  AdaRoundOptions o;
  o.iterations = 400;
  o.batch = 128;
  o.scale_search = ScaleSearch::Off;
  const RoundingResult off = learn_rounding(toy.problem, toy.x, toy.t, o);
  o.scale_search = ScaleSearch::Learned;
  const RoundingResult learned = learn_rounding(toy.problem, toy.x, toy.t, o);
  o.scale_search = ScaleSearch::Nearest;
  const RoundingResult nearest = learn_rounding(toy.problem, toy.x, toy.t, o);
  double coarse_off = 0.0, coarse_learned = 0.0;
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(off.scale[i], toy.problem.scale[i]);
    EXPECT_LE(learned.error[i], off.error[i]) << i;
    const float m = learned.scale[i] / toy.problem.scale[i];
    EXPECT_TRUE(m == 1.0f || (m >= 0.74f && m <= 1.26f)) << i << ": " << m;
    if (learned.scale[i] == toy.problem.scale[i]) {
      EXPECT_EQ(learned.error[i], off.error[i]) << i;
    }
    // every offset on the row's grid, floor or floor + 1 of W/s for the scale the row reports
    for (int64_t k = 0; k < toy.problem.depth; ++k) {
      const float ratio = toy.w(static_cast<int64_t>(i), k) / learned.scale[i];
      const float q = learned.offsets[i * 24 + static_cast<size_t>(k)];
      EXPECT_TRUE(q == std::clamp(std::floor(ratio), -8.0f, 7.0f) || q == std::clamp(std::floor(ratio) + 1.0f, -8.0f, 7.0f) ||
                  q == std::clamp(std::nearbyint(ratio), -8.0f, 7.0f))
          << i << "," << k;
    }
    if (i < 3) {
      coarse_off += off.error[i];
      coarse_learned += learned.error[i];
      EXPECT_LT(nearest.scale[i], toy.problem.scale[i]) << i;
    }
  }
  EXPECT_LT(coarse_learned, coarse_off);
}

TEST(LearnRounding, DepthwiseGroupsSideBySideAsOneByOne) {
  // Four one-channel groups, each its own inputs: learned side by side, and each alone by the dense path.
  const int64_t groups = 4, depth = 9, columns = 512;
  RoundingProblem all;
  all.rows = groups;
  all.depth = depth;
  std::vector<Columns> inputs;
  Columns targets{groups, columns, std::vector<float>(static_cast<size_t>(groups * columns))};
  std::vector<Toy> toys;
  for (int64_t g = 0; g < groups; ++g) {
    toys.push_back(toy_layer(1, depth, columns, 7 + static_cast<uint32_t>(g)));
    const Toy& t = toys.back();
    all.weight.insert(all.weight.end(), t.problem.weight.begin(), t.problem.weight.end());
    for (auto* v : {&all.scale, &all.lo, &all.hi, &all.bias}) v->push_back(0.0f);
    all.scale.back() = t.problem.scale[0], all.lo.back() = t.problem.lo[0], all.hi.back() = t.problem.hi[0];
    all.bias.back() = t.problem.bias[0];
    inputs.push_back(t.x);
    for (int64_t c = 0; c < columns; ++c) targets.data[static_cast<size_t>(c * groups + g)] = t.t.at(0, c);
  }
  AdaRoundOptions o;
  o.scale_search = ScaleSearch::Off;  // screening sums in another order could pick another multiple
  o.iterations = 500;
  o.batch = 128;
  const RoundingResult side = learn_rounding_depthwise(all, inputs, targets, o);
  for (int64_t g = 0; g < groups; ++g) {
    const RoundingResult one = learn_rounding(toys[static_cast<size_t>(g)].problem, toys[static_cast<size_t>(g)].x,
                                              toys[static_cast<size_t>(g)].t, o);
    EXPECT_NEAR(side.error_nearest[static_cast<size_t>(g)], one.error_nearest[0], kSameErrorTol * one.error_nearest[0])
        << g;
    EXPECT_NEAR(side.error[static_cast<size_t>(g)], one.error[0], kSameErrorTol * one.error_nearest[0]) << g;
    EXPECT_LT(side.error[static_cast<size_t>(g)], side.error_nearest[static_cast<size_t>(g)]) << g;
  }
}

TEST(LearnRounding, KeepsNearestWhereItIsBetter) {
  // Zero iterations: V stays at its start, h = frac, so the hard rounding is "up where frac ≥ 0.5":
  // nearest rounding except for ties; rows are never worse than nearest.
  const Toy toy = toy_layer(3, 8, 64);
  AdaRoundOptions o;
  o.iterations = 0;
  const RoundingResult r = learn_rounding(toy.problem, toy.x, toy.t, o);
  for (size_t i = 0; i < r.error.size(); ++i) EXPECT_LE(r.error[i], r.error_nearest[i]);
}

// x → Conv 3x3 (Relu) → depthwise Conv 3x3 (Clip 0..6) → Conv 1x1 → GlobalAveragePool → Flatten → Gemm
struct Cnn {
  onnx::ModelProto model;
  Graph graph;
  rewrite::QuantPlan plan;
  calib::CalibTable table;
  std::vector<exec::TensorMap> samples;
  Cnn() {
    model = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,3,10,10] x) => (float[1,5] y) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)
  r1 = Relu (c1)
  c2 = Conv <group = 8, pads = [1, 1, 1, 1]> (r1, w2, b2)
  r2 = Clip (c2, lo, hi)
  c3 = Conv (r2, w3, b3)
  p = GlobalAveragePool (c3)
  f = Flatten (p)
  y = Gemm <transB = 1> (f, wf, bf)
}
)");
    test::add_initializer(model, "w1", test::random_tensor({8, 3, 3, 3}, 1, -0.5f, 0.5f));
    test::add_initializer(model, "b1", test::random_tensor({8}, 2, -0.1f, 0.1f));
    test::add_initializer(model, "w2", test::random_tensor({8, 1, 3, 3}, 3, -0.5f, 0.5f));
    test::add_initializer(model, "b2", test::random_tensor({8}, 4, 0.0f, 0.2f));
    test::add_initializer(model, "lo", Tensor::scalar(0.0f));
    test::add_initializer(model, "hi", Tensor::scalar(6.0f));
    test::add_initializer(model, "w3", test::random_tensor({6, 8, 1, 1}, 5, -0.5f, 0.5f));
    test::add_initializer(model, "b3", test::random_tensor({6}, 6, -0.1f, 0.1f));
    test::add_initializer(model, "wf", test::random_tensor({5, 6}, 7));
    test::add_initializer(model, "bf", test::random_tensor({5}, 8));
    graph = build_graph(model);
    plan = rewrite::plan_quantization(graph, {});
    for (uint32_t i = 0; i < 12; ++i)
      samples.push_back({{"x", test::random_tensor({1, 3, 10, 10}, 100 + i, -1.0f, 2.0f)}});
    calib::CalibOptions co;
    co.method = "minmax";
    co.progress = false;
    table = calib::calibrate(graph, rewrite::calib_targets(plan), test::MemoryReader(samples), co);
  }
  AdaRoundResult run(int threads, float drop = 0.0f) const { return run_on(plan, table, threads, drop, false); }
  AdaRoundResult run_on(const rewrite::QuantPlan& p, const calib::CalibTable& t, int threads, float drop,
                        bool float_inputs) const {
    AdaRoundOptions o;
    o.iterations = 300;
    o.batch = 64;
    o.columns.max_columns = 400;
    o.threads = threads;
    o.drop_probability = drop;
    o.float_inputs = float_inputs;
    o.scale_search_levels = 256;  // the search on these int8 weights too
    return adaround(graph, p, rewrite::resolve_params(graph, p, t), test::MemoryReader(samples), o);
  }
  // The plan with node `node` (graph order) promoted as a precision search promotes it, and a table
  // calibrated for that plan.
  std::pair<rewrite::QuantPlan, calib::CalibTable> promoted(int node, bool wide) const {
    rewrite::QuantOptions o;
    (wide ? o.precision.wide_nodes : o.precision.float_nodes).insert(node);
    rewrite::QuantPlan p = rewrite::plan_quantization(graph, o);
    calib::CalibOptions co;
    co.method = "minmax";
    co.progress = false;
    return {p, calib::calibrate(graph, rewrite::calib_targets(p), test::MemoryReader(samples), co)};
  }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

TEST(AdaRound, RoundsEveryLayerAndLowersTheError) {
  const Cnn cnn;
  const AdaRoundResult r = cnn.run(2);
  ASSERT_EQ(r.layers.size(), 4u);
  EXPECT_EQ(r.weights.size(), 4u);
  EXPECT_EQ(r.samples, 12u);
  EXPECT_EQ(r.layers[1].groups, 8);  // the depthwise Conv, one problem per channel
  for (const auto& l : r.layers) {
    EXPECT_LE(l.error, l.error_nearest) << l.label;
    EXPECT_GT(l.columns, 0u) << l.label;
  }
  EXPECT_LT(r.mean_error(), r.mean_error_nearest());
}

TEST(AdaRound, SameWeightsWhateverTheThreadCount) {
  const Cnn cnn;
  const AdaRoundResult a = cnn.run(1), b = cnn.run(3);
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (const auto& [name, w] : a.weights) {
    const Tensor& v = b.weights.at(name);
    ASSERT_EQ(w.numel(), v.numel());
    EXPECT_EQ(std::memcmp(w.raw(), v.raw(), w.nbytes()), 0) << name;
  }
}

TEST(AdaRound, DropSameWeightsWhateverTheThreadCountAndNotThoseWithout) {
  const Cnn cnn;
  const AdaRoundResult a = cnn.run(1, 0.5f), b = cnn.run(3, 0.5f), plain = cnn.run(2);
  ASSERT_EQ(a.weights.size(), b.weights.size());
  size_t differ = 0;
  for (const auto& [name, w] : a.weights) {
    const Tensor& v = b.weights.at(name);
    ASSERT_EQ(w.numel(), v.numel());
    EXPECT_EQ(std::memcmp(w.raw(), v.raw(), w.nbytes()), 0) << name;
    differ += std::memcmp(w.raw(), plain.weights.at(name).raw(), w.nbytes()) != 0;
  }
  EXPECT_GT(differ, 0u);  // the FP32 inputs did reach the optimisation
  for (const auto& l : a.layers) EXPECT_LE(l.error, l.error_nearest) << l.label;
}

TEST(AdaRound, TheWrittenModelStoresTheLearnedIntegers) {
  const Cnn cnn;
  const AdaRoundResult r = cnn.run(2);
  EXPECT_FALSE(r.params.empty());  // the scale search moved some channels: their new scales are written
  const calib::CalibTable table = rescaled_table(cnn.table, r.params);
  const onnx::ModelProto rounded = rewrite::replace_weights(cnn.model, r.weights).model;
  const Graph g = build_graph(rounded);
  const onnx::ModelProto q = rewrite::rewrite_model(rounded, g, cnn.plan, table);
  const std::map<std::string, QParams> params = rewrite::resolve_params(cnn.graph, cnn.plan, table);
  size_t differ_from_nearest = 0;
  for (const auto& [name, w] : r.weights) {
    const onnx::TensorProto* stored = nullptr;
    for (const auto& t : q.graph().initializer())
      if (t.name() == name + "_quantized") stored = &t;
    ASSERT_NE(stored, nullptr) << name;
    const Tensor codes = onnx_io::tensor_from_proto(*stored);
    const QParams& p = params.at(name);
    // DequantizeLinear of the stored codes gives back the rounded weight bit for bit ...
    const Tensor dq = dequantize_tensor(codes, p);
    ASSERT_EQ(dq.numel(), w.numel());
    EXPECT_EQ(std::memcmp(dq.raw(), w.raw(), w.nbytes()), 0) << name;
    // ... and every code is floor(W/s) or floor(W/s) + 1 of the original weight.
    const Tensor nearest = quantize_tensor(*cnn.graph.weight(name), p);
    const Tensor original = *cnn.graph.weight(name);
    const int64_t inner = original.numel() / original.dim(p.axis >= 0 ? p.axis : 0);
    for (int64_t i = 0; i < codes.numel(); ++i) {
      const size_t c = p.axis == 0  ? static_cast<size_t>(i / inner)
                       : p.axis < 0 ? 0
                                    : static_cast<size_t>(i % original.dim(1));
      const float ratio = original.data<float>()[i] / p.scale[c];
      const int64_t code = codes.data<int8_t>()[i] - p.zero_point[c];
      EXPECT_TRUE(code == static_cast<int64_t>(std::floor(ratio)) ||
                  code == static_cast<int64_t>(std::floor(ratio)) + 1)
          << name << " [" << i << "]";
      differ_from_nearest += codes.data<int8_t>()[i] != nearest.data<int8_t>()[i];
    }
  }
  EXPECT_GT(differ_from_nearest, 0u);  // the test would pass trivially with nearest rounding otherwise
}

// With float_inputs each layer learns on its FP32 inputs: the rounding of the layers below the first
// Conv is the same bit for bit whether that Conv is quantized or float (what a precision search needs:
// it promotes layers after the rounding was learned). Learned on the quantized model's inputs, the
// rounding follows the first Conv's quantization error, and some later weight differs.
TEST(AdaRound, FloatInputsRoundingDoesNotDependOnTheLayersAbove) {
  const Cnn cnn;
  const auto [plan, table] = cnn.promoted(0, false);
  const AdaRoundResult all = cnn.run_on(cnn.plan, cnn.table, 2, 0.0f, true);
  const AdaRoundResult below = cnn.run_on(plan, table, 2, 0.0f, true);
  EXPECT_TRUE(all.float_inputs);
  ASSERT_EQ(all.layers.size(), 4u);
  ASSERT_EQ(below.layers.size(), 3u);  // the float Conv is not rounded
  EXPECT_FALSE(below.weights.count("w1"));
  for (const char* w : {"w2", "w3", "wf"}) EXPECT_TRUE(same_bits(all.weights.at(w), below.weights.at(w))) << w;
  const AdaRoundResult all_q = cnn.run_on(cnn.plan, cnn.table, 2, 0.0f, false);
  const AdaRoundResult below_q = cnn.run_on(plan, table, 2, 0.0f, false);
  size_t differ = 0;
  for (const char* w : {"w2", "w3", "wf"}) differ += !same_bits(all_q.weights.at(w), below_q.weights.at(w));
  EXPECT_GT(differ, 0u);
  for (const auto& l : all.layers) EXPECT_LE(l.error, l.error_nearest) << l.label;
}

// kept_rounding: what a plan still quantizes in 8 bits keeps its learned weight, corrected bias and
// rescaled parameters; a layer promoted to 16 bits or float keeps its float weight and bias.
TEST(AdaRound, KeptRoundingDropsTheLayersAPlanPromotes) {
  const Cnn cnn;
  AdaRoundOptions o;
  o.iterations = 100;
  o.batch = 64;
  o.columns.max_columns = 400;
  o.correct_bias = true;
  o.scale_search_levels = 256;
  const AdaRoundResult r =
      adaround(cnn.graph, cnn.plan, rewrite::resolve_params(cnn.graph, cnn.plan, cnn.table), test::MemoryReader(cnn.samples), o);
  ASSERT_EQ(r.layers.size(), 4u);
  ASSERT_EQ(r.layers[0].bias, "b1");
  const AdaRoundResult same = kept_rounding(r, cnn.plan);
  EXPECT_EQ(same.layers.size(), 4u);
  EXPECT_EQ(same.weights.size(), r.weights.size());
  EXPECT_EQ(same.params.size(), r.params.size());
  for (const bool wide : {true, false}) {
    const AdaRoundResult kept = kept_rounding(r, cnn.promoted(0, wide).first);
    ASSERT_EQ(kept.layers.size(), 3u) << wide;
    EXPECT_EQ(kept.layers[0].weight, "w2");
    EXPECT_FALSE(kept.weights.count("w1") || kept.weights.count("b1") || kept.params.count("w1")) << wide;
    for (const char* name : {"w2", "b2", "w3", "b3", "wf", "bf"})
      EXPECT_TRUE(same_bits(kept.weights.at(name), r.weights.at(name))) << name;
    for (const auto& [name, p] : r.params) {
      if (name != "w1") {
        EXPECT_TRUE(kept.params.count(name)) << name;
      }
    }
  }
}

}  // namespace
