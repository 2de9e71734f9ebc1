// SPDX-License-Identifier: Apache-2.0
// Elementwise kernels: the vectorized exp behind Exp/Sigmoid/Softmax against double-precision
// references, and multi-threaded runs against single-threaded ones (bit-identical, parallel.h's
// determinism contract) on tensors large enough to be split into tasks.
#include <cmath>
#include <limits>

#include "ptq/exec/executor.h"
#include "testutil.h"

using namespace ptq;

namespace {

constexpr double kMaxUlp = 1.0;        // exp_fast: at most 1 ulp over the normal range
constexpr double kSigmoidRel = 4e-7;   // 1 / (1 + e^-x): the exp error plus two roundings

Tensor run1(const std::string& op, const Tensor& x, int threads = 1) {
  Graph g = build_graph(test::parse_text_model(
      "<ir_version: 8, opset_import: [\"\" : 13]>\ng (float[N] x) => (float[N] y) {\n  y = " + op + " (x)\n}\n"));
  exec::Executor ex(g, exec::ExecOptions{threads, false});
  return ex.run({{"x", x}}).at("y");
}

double ulp_of(double v) {
  const float f = static_cast<float>(v);
  return std::nextafter(f, std::numeric_limits<float>::infinity()) - f;
}

}  // namespace

TEST(Eltwise, ExpWithinOneUlpOverTheFloatRange) {
  std::vector<float> xs;
  for (float v = -87.0f; v <= 88.5f; v += 0.0137f) xs.push_back(v);
  Tensor y = run1("Exp", Tensor::from_vector<float>(xs, {static_cast<int64_t>(xs.size())}));
  for (size_t i = 0; i < xs.size(); ++i) {
    const double want = std::exp(static_cast<double>(xs[i]));
    ASSERT_LE(std::fabs(y.data<float>()[i] - want), kMaxUlp * ulp_of(want)) << "x = " << xs[i];
  }
}

TEST(Eltwise, ExpEdgeValues) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor y = run1("Exp", Tensor::from_vector<float>({-inf, -200.0f, 0.0f, 89.0f, inf, std::nanf("")}, {6}));
  const float* p = y.data<float>();
  EXPECT_EQ(p[0], 0.0f);
  EXPECT_EQ(p[1], 0.0f);
  EXPECT_EQ(p[2], 1.0f);
  EXPECT_EQ(p[3], inf);  // e^89 > FLT_MAX
  EXPECT_EQ(p[4], inf);
  EXPECT_TRUE(std::isnan(p[5]));
}

TEST(Eltwise, SigmoidAndSoftmaxMatchDoubleReferences) {
  Tensor x = test::random_tensor({4099}, 5, -30.0f, 30.0f);
  Tensor s = run1("Sigmoid", x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double want = 1.0 / (1.0 + std::exp(-static_cast<double>(x.data<float>()[i])));
    ASSERT_NEAR(s.data<float>()[i], want, kSigmoidRel * want) << i;
  }
  Tensor sm = run1("Softmax", x.reshaped({1, 4099}).reshaped({4099}));
  double m = -1e30, z = 0;
  for (int64_t i = 0; i < x.numel(); ++i) m = std::max(m, static_cast<double>(x.data<float>()[i]));
  for (int64_t i = 0; i < x.numel(); ++i) z += std::exp(x.data<float>()[i] - m);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double want = std::exp(x.data<float>()[i] - m) / z;
    ASSERT_NEAR(sm.data<float>()[i], want, 1e-5 * want + 1e-12) << i;
  }
}

TEST(Eltwise, ThreadedRunsAreBitIdentical) {
  // 3 x 400000 values broadcast against a [3,1] column and a [400000] row: above the size from which
  // elementwise ops run on the pool, split into tasks both by rows and within rows.
  Graph g = build_graph(test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[3,400000] a, float[3,1] b, float[400000] c) => (float[3,400000] y) {
  s = Add(a, b)
  m = Mul(s, c)
  e = Sigmoid(m)
  y = Clip(e, , )
}
)"));
  exec::TensorMap in = {{"a", test::random_tensor({3, 400000}, 1)}, {"b", test::random_tensor({3, 1}, 2)},
                        {"c", test::random_tensor({400000}, 3)}};
  Tensor one = exec::Executor(g, exec::ExecOptions{1, false}).run(in).at("y");
  Tensor two = exec::Executor(g, exec::ExecOptions{2, false}).run(in).at("y");
  ASSERT_EQ(one.shape(), two.shape());
  EXPECT_EQ(one.to_vector<float>(), two.to_vector<float>());
  // And the value is the plain formula.
  const float* a = in["a"].data<float>();
  const float* b = in["b"].data<float>();
  const float* c = in["c"].data<float>();
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t i = 0; i < 400000; i += 9973) {
      const double m = (static_cast<double>(a[r * 400000 + i]) + b[r]) * c[i];
      ASSERT_NEAR(one.data<float>()[r * 400000 + i], 1.0 / (1.0 + std::exp(-m)), 1e-6);
    }
}
