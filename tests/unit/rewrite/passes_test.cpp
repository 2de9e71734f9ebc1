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
