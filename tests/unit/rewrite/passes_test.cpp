// SPDX-License-Identifier: Apache-2.0
// Graph passes run before planning: results unchanged (ptq's executor on random inputs, before vs
// after), patterns that must not be touched, and what is left in the model.
#include <cmath>

#include "ptq/exec/executor.h"
#include "ptq/rewrite/passes.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;

namespace {

constexpr float kRtol = 1e-4f, kAtol = 1e-5f;  // folding reorders float arithmetic

exec::TensorMap run(const onnx::ModelProto& m, const exec::TensorMap& inputs) {
  Graph g = build_graph(m);
  exec::ExecOptions one_thread;
  one_thread.threads = 1;
  return exec::Executor(g, one_thread).run(inputs);
}

void expect_same_outputs(const onnx::ModelProto& a, const onnx::ModelProto& b, const exec::TensorMap& inputs) {
  exec::TensorMap ra = run(a, inputs), rb = run(b, inputs);
  for (const auto& [name, t] : ra) {
    const Tensor& u = rb.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << name;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float x = t.data<float>()[i], y = u.data<float>()[i];
      ASSERT_NEAR(x, y, kAtol + kRtol * std::fabs(x)) << name << "[" << i << "]";
    }
  }
}

void add_bn_params(onnx::ModelProto& m, const std::string& prefix, int64_t channels, uint32_t seed) {
  add_initializer(m, prefix + "_scale", random_tensor({channels}, seed, 0.5f, 1.5f));
  add_initializer(m, prefix + "_bias", random_tensor({channels}, seed + 1));
  add_initializer(m, prefix + "_mean", random_tensor({channels}, seed + 2));
  add_initializer(m, prefix + "_var", random_tensor({channels}, seed + 3, 0.1f, 2.0f));
}

}  // namespace

TEST(FoldBatchNorm, ConvAndGroupedConvTransposeKeepTheirResults) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
bn (float[2,4,5,5] x) => (float[2,6,5,5] y, float[2,6,7,7] z) {
  c = Conv <pads = [1, 1, 1, 1], group = 2> (x, W, B)
  y = BatchNormalization <epsilon = 0.001> (c, bn1_scale, bn1_bias, bn1_mean, bn1_var)
  t = ConvTranspose <group = 2> (x, T)
  z = BatchNormalization (t, bn2_scale, bn2_bias, bn2_mean, bn2_var)
}
)");
  add_initializer(m, "W", random_tensor({6, 2, 3, 3}, 1));
  add_initializer(m, "B", random_tensor({6}, 2));
  add_initializer(m, "T", random_tensor({4, 3, 3, 3}, 3));  // [C_in, M/group, k, k]: M = 6
  add_bn_params(m, "bn1", 6, 10);
  add_bn_params(m, "bn2", 6, 20);
  rewrite::PassResult r = rewrite::fold_batch_norm(m);
  EXPECT_EQ(r.changed, 2u);
  auto counts = op_counts(r.model);
  EXPECT_EQ(counts.count("BatchNormalization"), 0u);
  EXPECT_EQ(r.model.graph().initializer_size(), 4);  // W_bn, y_bias_bn, T_bn, z_bias_bn
  EXPECT_NE(find_initializer(r.model, "W_bn"), nullptr);
  expect_same_outputs(m, r.model, {{"x", random_tensor({2, 4, 5, 5}, 4)}});
}

TEST(FoldBatchNorm, ConstantNodeWeightsAndSharedConvOutputs) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
bn (float[1,2,3,3] x) => (float[1,2,3,3] y, float[1,2,3,3] z) {
  W = Constant <value = float[2,2,1,1] {1, -2, 3, 0.5}> ()
  c = Conv (x, W)
  y = BatchNormalization (c, s, b, mu, v)
  d = Conv (x, W)
  z = BatchNormalization (d, s, b, mu, v)
  w = Relu (d)
}
)");
  m.mutable_graph()->mutable_output()->Add()->set_name("w");
  add_initializer(m, "s", Tensor::from_vector<float>({2.0f, 0.5f}, {2}));
  add_initializer(m, "b", Tensor::from_vector<float>({0.1f, -0.2f}, {2}));
  add_initializer(m, "mu", Tensor::from_vector<float>({0.3f, 0.0f}, {2}));
  add_initializer(m, "v", Tensor::from_vector<float>({4.0f - 1e-5f, 1.0f - 1e-5f}, {2}));
  rewrite::PassResult r = rewrite::fold_batch_norm(m);
  EXPECT_EQ(r.changed, 1u);  // d is also read by the Relu: that BN stays
  auto counts = op_counts(r.model);
  EXPECT_EQ(counts["BatchNormalization"], 1);
  EXPECT_EQ(counts["Constant"], 1);  // W is still read by the second Conv
  // Hand computation: f = γ/√(σ²+ε) = [1, 0.5]; W' = [[1, -2], [1.5, 0.25]]; B' = -μ·f + β = [-0.2, -0.2].
  EXPECT_EQ(initializer_value(r.model, "W_bn").to_vector<float>(), (std::vector<float>{1.0f, -2.0f, 1.5f, 0.25f}));
  std::vector<float> bias = initializer_value(r.model, "y_bias_bn").to_vector<float>();
  EXPECT_NEAR(bias[0], -0.2f, 1e-6f);
  EXPECT_NEAR(bias[1], -0.2f, 1e-6f);
  expect_same_outputs(m, r.model, {{"x", random_tensor({1, 2, 3, 3}, 5)}});
}

TEST(FoldBatchNorm, NothingToFoldLeavesTheModelAsItIs) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
nobn (float[1,2,3,3] x, float[2] s) => (float[1,2,3,3] y) {
  c = Conv (x, W)
  y = BatchNormalization (c, s, s, s, s)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 6));
  rewrite::PassResult r = rewrite::fold_batch_norm(m);  // BN parameters are graph inputs
  EXPECT_EQ(r.changed, 0u);
  EXPECT_EQ(serialize(r.model), serialize(m));
}

// x → Conv(W, B) → a;  a → grouped Conv(V) (no bias, 2 groups) → b;  b → Flatten → Gemm(G, C, transB) → y.
// Every layer gets b - (W_q - W)·mean, computed here by hand from the table's weight parameters.
TEST(BiasCorrection, ConvGroupedConvAndGemmByHand) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
bc (float[1,4,3,3] x) => (float[1,5] y) {
  a = Conv (x, W, B)
  b = Conv <group = 2> (a, V)
  f = Flatten (b)
  y = Gemm <transB = 1, alpha = 0.5> (f, G, C)
}
)");
  add_initializer(m, "W", random_tensor({6, 4, 1, 1}, 31));
  add_initializer(m, "B", random_tensor({6}, 32));
  add_initializer(m, "V", random_tensor({4, 3, 3, 3}, 33));
  add_initializer(m, "G", random_tensor({5, 4}, 34));
  add_initializer(m, "C", random_tensor({5}, 35));
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  calib::CalibTable table = make_table(g, plan);
  std::map<std::string, int> inputs = rewrite::bias_correction_inputs(g, plan, table);
  EXPECT_EQ(inputs, (std::map<std::string, int>{{"x", 1}, {"a", 1}, {"f", 1}}));
  const std::map<std::string, std::vector<double>> means = {
      {"x", {0.5, -1.0, 2.0, 0.25}}, {"a", {1, 2, 3, 4, 5, 6}}, {"f", {-0.5, 0.5, 1.5, 3.0}}};
  rewrite::PassResult r = rewrite::correct_biases(m, g, plan, table, means);
  ASSERT_EQ(r.changed, 3u);
  Graph c = build_graph(r.model);
  auto dq = [&](const std::string& w) { return fake_quantize(*g.weight(w), table.tensors.at(w).qparams); };
  constexpr double kBiasTol = 1e-6;  // float32 storage of a double computation
  {  // Conv: c[o] = sum_i dW[o, i] · mean_x[i]
    Tensor wq = dq("W");
    const Tensor& w = *g.weight("W");
    const Tensor& nb = *c.weight(c.nodes[0].input(2));
    EXPECT_EQ(c.nodes[0].input(2), "a_bias_corrected");
    for (int64_t o = 0; o < 6; ++o) {
      double shift = 0.0;
      for (int64_t i = 0; i < 4; ++i) shift += (wq.data<float>()[o * 4 + i] - w.data<float>()[o * 4 + i]) * means.at("x")[static_cast<size_t>(i)];
      EXPECT_NEAR(nb.data<float>()[o], g.weight("B")->data<float>()[o] - shift, kBiasTol) << o;
    }
  }
  {  // grouped Conv without bias: output o of group o / 2 reads input channels 3·(o / 2) ... +2
    Tensor vq = dq("V");
    const Tensor& v = *g.weight("V");
    ASSERT_TRUE(c.nodes[1].has_input(2));
    const Tensor& nb = *c.weight(c.nodes[1].input(2));
    for (int64_t o = 0; o < 4; ++o) {
      double shift = 0.0;
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t t = 0; t < 9; ++t) {
          const int64_t at = (o * 3 + i) * 9 + t;
          shift += (vq.data<float>()[at] - v.data<float>()[at]) * means.at("a")[static_cast<size_t>((o / 2) * 3 + i)];
        }
      EXPECT_NEAR(nb.data<float>()[o], -shift, kBiasTol) << o;
    }
  }
  {  // Gemm, transB = 1, alpha = 0.5: c[n] = 0.5 · sum_k dG[n, k] · mean_f[k]
    Tensor gq = dq("G");
    const Tensor& w = *g.weight("G");
    const Tensor& nb = *c.weight(c.nodes[3].input(2));
    for (int64_t n = 0; n < 5; ++n) {
      double shift = 0.0;
      for (int64_t k = 0; k < 4; ++k) shift += 0.5 * (gq.data<float>()[n * 4 + k] - w.data<float>()[n * 4 + k]) * means.at("f")[static_cast<size_t>(k)];
      EXPECT_NEAR(nb.data<float>()[n], g.weight("C")->data<float>()[n] - shift, kBiasTol) << n;
    }
  }
  // The old float biases are gone; a second plan gives both Conv an int32 bias (the Gemm's stays float:
  // alpha != 1).
  EXPECT_FALSE(c.is_weight("B"));
  EXPECT_FALSE(c.is_weight("C"));
  rewrite::QuantPlan again = rewrite::plan_quantization(c, {});
  std::string names;
  for (const auto& [name, t] : again.tensors)
    if (t.kind == rewrite::TensorPlan::Kind::Bias) names += name + " ";
  EXPECT_EQ(names, "a_bias_corrected b_bias_corrected ");
}

TEST(BiasCorrection, SharedBiasAndMissingMeansAreLeftAlone) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
shared (float[1,2,3,3] x) => (float[1,2,3,3] y) {
  a = Conv (x, W, B)
  y = Conv (a, W2, B)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 41));
  add_initializer(m, "W2", random_tensor({2, 2, 1, 1}, 42));
  add_initializer(m, "B", random_tensor({2}, 43));
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  calib::CalibTable table = make_table(g, plan);
  EXPECT_TRUE(rewrite::bias_correction_inputs(g, plan, table).empty());  // B is read by both layers
  EXPECT_EQ(rewrite::correct_biases(m, g, plan, table, {{"x", {1.0, 1.0}}}).changed, 0u);
}

// A layer whose weights already lie on their grid (what AdaRound writes) has no shift: its bias stays.
TEST(BiasCorrection, WeightsOnTheGridKeepTheirBias) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
grid (float[1,2,3,3] x) => (float[1,2,3,3] y) {
  a = Conv (x, W, B)
  y = Conv (a, W2, B2)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 51));
  add_initializer(m, "B", random_tensor({2}, 52));
  add_initializer(m, "W2", random_tensor({2, 2, 1, 1}, 53));
  add_initializer(m, "B2", random_tensor({2}, 54));
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  calib::CalibTable table = make_table(g, plan);
  const Tensor on_grid = fake_quantize(*g.weight("W"), table.tensors.at("W").qparams);
  onnx::ModelProto rounded = rewrite::replace_weights(m, {{"W", on_grid}}).model;
  Graph rg = build_graph(rounded);
  rewrite::PassResult r = rewrite::correct_biases(rounded, rg, plan, table, {{"x", {1.0, -2.0}}, {"a", {0.5, 3.0}}});
  EXPECT_EQ(r.changed, 1u);  // only the second Conv
  Graph c = build_graph(r.model);
  EXPECT_EQ(c.nodes[0].input(2), "B");
  EXPECT_EQ(c.nodes[1].input(2), "y_bias_corrected");
}

TEST(ReplaceWeights, InitializersAndConstantNodesKeepTheirNames) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
rw (float[1,2,3,3] x) => (float[1,2,3,3] y) {
  K = Constant <value = float[2,2,1,1] {1, 2, 3, 4}> ()
  a = Conv (x, W)
  y = Conv (a, K)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 61));
  const Tensor w = random_tensor({2, 2, 1, 1}, 62), k = random_tensor({2, 2, 1, 1}, 63);
  rewrite::PassResult r = rewrite::replace_weights(m, {{"W", w}, {"K", k}});
  EXPECT_EQ(r.changed, 2u);
  Graph g = build_graph(r.model);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_EQ(g.weight("W")->data<float>()[i], w.data<float>()[i]);
    EXPECT_EQ(g.weight("K")->data<float>()[i], k.data<float>()[i]);
  }
  EXPECT_EQ(g.weights.at("K").source, WeightSource::ConstantNode);
  EXPECT_THROW(rewrite::replace_weights(m, {{"a", w}}), Error);                                      // not a weight
  EXPECT_THROW(rewrite::replace_weights(m, {{"W", random_tensor({4, 1, 1, 1}, 1)}}), Error);  // another shape
}
