// SPDX-License-Identifier: Apache-2.0
// eq: on small Conv and MatMul layers the summed output cosine (recomputed here with the executor and
// fake_quantize) is at least kl's, which EQ starts from, and the search moves the scales.
#include <cmath>
#include <random>

#include "ptq/calib/calibrator.h"
#include "ptq/quant/scale.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::calib;
using test::MemoryReader;

namespace {

constexpr double kCosineSlack = 1e-12;  // EQ never lowers the summed cosine of a layer

Tensor laplacian(Shape shape, uint32_t seed, float outlier) {
  Tensor t(DType::Float32, shape);
  std::mt19937 rng(seed);
  std::exponential_distribution<float> e(1.0f);
  std::bernoulli_distribution sign(0.5);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = sign(rng) ? e(rng) : -e(rng);
  t.data<float>()[seed % t.numel()] = outlier;  // one large value per sample: kl clips it
  return t;
}

// Sum over samples of cos(layer(x, w), layer(fq(x), fq(w))) with the table's parameters.
double summed_cosine(const Graph& g, const CalibTable& t, const std::vector<exec::TensorMap>& samples) {
  exec::Executor ex(g, exec::ExecOptions{1, false});
  const Node& node = g.nodes[0];
  const Tensor& w = *g.weight(node.inputs[1]);
  Tensor wq = fake_quantize(w, t.tensors.at(node.inputs[1]).qparams);
  double total = 0.0;
  for (const auto& s : samples) {
    const Tensor& x = s.at(node.inputs[0]);
    Tensor xq = fake_quantize(x, t.tensors.at(node.inputs[0]).qparams);
    Tensor y = ex.run_node(0, {&x, &w})[0], q = ex.run_node(0, {&xq, &wq})[0];
    double d = 0, ny = 0, nq = 0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      d += static_cast<double>(y.data<float>()[i]) * q.data<float>()[i];
      ny += static_cast<double>(y.data<float>()[i]) * y.data<float>()[i];
      nq += static_cast<double>(q.data<float>()[i]) * q.data<float>()[i];
    }
    total += d / std::sqrt(ny * nq);
  }
  return total;
}

void check_layer(const std::string& text, const Tensor& w, Shape x_shape, int axis) {
  onnx::ModelProto m = test::parse_text_model(text);
  test::add_initializer(m, "w", w);
  Graph g = build_graph(m);
  std::vector<exec::TensorMap> samples;
  for (uint32_t i = 0; i < 12; ++i) samples.push_back({{"x", laplacian(x_shape, 100 + i, 12.0f)}});
  std::vector<CalibTarget> targets = {{"x", QuantSpec{QType::UInt8, false, false}, -1, false},
                                      {"w", QuantSpec{QType::Int8, true, false}, axis, true}};
  CalibOptions o;
  o.progress = false;
  o.method = "kl";
  CalibTable kl = calibrate(g, targets, MemoryReader(samples), o);
  o.method = "eq";
  o.eq_samples = 12;
  CalibTable eq = calibrate(g, targets, MemoryReader(samples), o);
  const double cos_kl = summed_cosine(g, kl, samples), cos_eq = summed_cosine(g, eq, samples);
  EXPECT_GE(cos_eq, cos_kl - kCosineSlack);
  EXPECT_GT(cos_eq, cos_kl);  // on this data the search finds better scales than the kl start
  EXPECT_TRUE(eq.tensors.at("x").qparams.scale != kl.tensors.at("x").qparams.scale ||
              eq.tensors.at("w").qparams.scale != kl.tensors.at("w").qparams.scale);  // some scale moved
  EXPECT_EQ(eq.tensors.at("w").qparams.scale.size(), kl.tensors.at("w").qparams.scale.size());
  for (float s : eq.tensors.at("w").qparams.scale) EXPECT_GT(s, 0.0f);
}

}  // namespace

TEST(Eq, ConvLayerCosineNotBelowKl) {
  Tensor w = test::random_tensor({4, 3, 3, 3}, 7);
  for (int64_t i = 0; i < 27; ++i) w.data<float>()[i] *= 5.0f;  // channels of different magnitude
  check_layer(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1,3,6,6] x) => (float[1,4,4,4] y) {
  y = Conv(x, w)
}
)", w, {1, 3, 6, 6}, 0);
}

TEST(Eq, MatMulLayerCosineNotBelowKl) {
  Tensor w = test::random_tensor({16, 8}, 8);
  check_layer(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[4,16] x) => (float[4,8] y) {
  y = MatMul(x, w)
}
)", w, {4, 16}, 1);
}
