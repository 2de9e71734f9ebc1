// SPDX-License-Identifier: Apache-2.0
// assign_reader_gains: the planner marks each calibrated activation with the gains of its readers
// (reader_gain.cpp's table), looking through the data movement that shares its parameters.
#include <gtest/gtest.h>

#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;

namespace {

std::vector<double> powers(const Quantized& q, const std::string& tensor) {
  std::vector<double> p = q.plan.tensors.at(tensor).gain.powers;
  std::sort(p.begin(), p.end());
  return p;
}

}  // namespace

TEST(ReaderGain, PlannerFindsEachReadersGainThroughDataMovement) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,4] x) => (float[4,2] p, float[2,4] l, float[2,4] d, float[2,4] e, float[2,4] s, float[2,4] h) {
  a = MatMul (x, w)
  t = Transpose (a)
  p = Pow (t, two)
  b = MatMul (x, w)
  l = Log (b)
  c = MatMul (x, w)
  y = MatMul (x, w)
  d = Div (y, c)
  f = MatMul (x, w)
  e = Exp (f)
  k = MatMul (x, w)
  s = Mul (k, k)
  n = MatMul (x, w)
  sq = Sqrt (n)
  h = Add (sq, n)
}
)");
  add_initializer(m, "w", random_tensor({4, 4}, 1, 0.5f, 1.5f));
  add_initializer(m, "two", Tensor::from_vector<float>({2.0f}, {}));
  Quantized q = quantize(m);
  ASSERT_EQ(q.plan.tensors.at("t").params_from, "a");    // the Transpose shares a's parameters
  EXPECT_EQ(powers(q, "a"), std::vector<double>{1.0});   // Pow(., 2): 2x
  EXPECT_EQ(powers(q, "b"), std::vector<double>{-1.0});  // Log: 1/x
  EXPECT_EQ(powers(q, "c"), std::vector<double>{-2.0});  // a denominator: -1/x^2
  EXPECT_EQ(powers(q, "y"), std::vector<double>{0.0});   // a numerator: linear
  EXPECT_TRUE(q.plan.tensors.at("f").gain.exponential);  // Exp
  EXPECT_TRUE(powers(q, "f").empty());
  EXPECT_EQ(powers(q, "k"), std::vector<double>{1.0});          // x·x
  EXPECT_EQ(powers(q, "n"), (std::vector<double>{-0.5, 0.0}));  // Sqrt and an Add
  EXPECT_TRUE(q.plan.tensors.at("a").gain.weighted());
  EXPECT_FALSE(q.plan.tensors.at("a").gain.keeps_top());
  EXPECT_TRUE(q.plan.tensors.at("b").gain.keeps_top());
  EXPECT_FALSE(q.plan.tensors.at("b").gain.weighted());
  EXPECT_FALSE(q.plan.tensors.at("y").gain.weighted() || q.plan.tensors.at("y").gain.keeps_top());
  // The calibration targets carry them to the observers.
  for (const auto& target : rewrite::calib_targets(q.plan)) {
    if (target.tensor == "a") {
      EXPECT_EQ(target.gain.powers, std::vector<double>{1.0});
    }
  }
}

// Logits: a Softmax or an ArgMax ranks its input, so the top is kept (keeps_top), also when the Softmax
// reads them through a Reshape outside the group (the Softmax input has its own, row-top parameters).
TEST(ReaderGain, RankingReadersKeepTheTopThroughDataMovement) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,4] x) => (float[8] s, int64[2,1] am, float[2,4] r) {
  a = MatMul (x, w)
  f = Reshape (a, shape)
  s = Softmax (f)
  b = MatMul (x, w)
  am = ArgMax <axis = 1> (b)
  c = MatMul (x, w)
  r = Relu (c)
}
)");
  add_initializer(m, "w", random_tensor({4, 4}, 1, 0.5f, 1.5f));
  add_initializer(m, "shape", Tensor::from_vector<int64_t>({8}, {1}));
  Quantized q = quantize(m);
  const auto& f = q.plan.tensors.at("f");
  const std::string f_root = f.params_from.empty() ? "f" : f.params_from;
  EXPECT_TRUE(q.plan.tensors.at("a").gain.keeps_top());
  EXPECT_TRUE(q.plan.tensors.at(f_root).gain.keeps_top());
  EXPECT_TRUE(q.plan.tensors.at("b").gain.ranked);
  EXPECT_FALSE(q.plan.tensors.at("a").gain.weighted());  // Softmax's derivative is bounded
  EXPECT_FALSE(q.plan.tensors.at("r").gain.keeps_top());  // a graph output: read as it is
}
