// SPDX-License-Identifier: Apache-2.0
// Executor fusion: compute nodes with the element-wise chains after them give the same bits as the
// node-by-node run (Sigmoid/SiLU within kSigmoidTol), absorbed nodes disappear from the profile, and an
// attached tap still sees every node output.
#include "op_runner.h"
#include "post_ops.h"

using namespace ptq;
using test::OpCase;

namespace {

constexpr float kSigmoidTol = 1e-6f;  // vectorized exp in fused Sigmoid/SiLU epilogues vs std::exp

struct Runs {
  Tensor fused, plain, tapped;
  std::map<std::string, exec::OpProfile> profile;
  std::vector<std::string> tap_names;
};

Runs run_both(const OpCase& c, int threads = 1) {
  Graph g = test::op_graph(c);
  exec::TensorMap in;
  for (const auto& kv : c.inputs) in[kv.first] = kv.second;
  Runs r;
  exec::Executor fused(g, exec::ExecOptions{threads, true, true});
  exec::Executor plain(g, exec::ExecOptions{threads, false, false, false});  // no fusion, no folding
  r.fused = fused.run(in).at(c.outputs[0].first);
  r.profile = fused.profile();
  r.plain = plain.run(in).at(c.outputs[0].first);
  exec::Tap tap = [&](const std::string& name, const Tensor&) { r.tap_names.push_back(name); };
  exec::RunOptions ro;
  ro.tap = &tap;
  r.tapped = fused.run(in, ro).at(c.outputs[0].first);
  return r;
}

OpCase conv_case(const std::string& chain, int64_t C, int64_t M, uint32_t seed, int64_t width = 11) {
  OpCase c;
  c.opsets = "\"\" : 14";
  c.node = "a = Conv <pads = [1, 1, 1, 1]> (x, w, b)\n  " + chain;
  c.inputs = {{"x", test::random_tensor({2, C, 13, width}, seed, -2.0f, 2.0f)}};
  c.initializers = {{"w", test::random_tensor({M, C, 3, 3}, seed + 1)}, {"b", test::random_tensor({M}, seed + 2)}};
  c.outputs = {{"y", DType::Float32}};
  return c;
}

void expect_fused(const Runs& r, const std::vector<std::string>& absorbed, float tol, const std::string& what) {
  if (tol == 0.0f) test::expect_same_bits(r.fused, r.plain, what + " fused vs plain");
  else test::expect_near_all(r.fused, r.plain.to_vector<float>(), tol, what + " fused vs plain");
  test::expect_same_bits(r.tapped, r.plain, what + " tapped vs plain");
  for (const auto& op : absorbed) EXPECT_EQ(r.profile.count(op), 0u) << what << ": " << op << " was not fused";
}

}  // namespace

TEST(Fusion, ConvBatchNormRelu) {
  OpCase c = conv_case("n = BatchNormalization <epsilon = 0.001> (a, s, bb, m, v)\n  y = Relu(n)", 5, 7, 1);
  c.initializers.push_back({"s", test::random_tensor({7}, 10)});
  c.initializers.push_back({"bb", test::random_tensor({7}, 11)});
  c.initializers.push_back({"m", test::random_tensor({7}, 12)});
  c.initializers.push_back({"v", test::random_tensor({7}, 13, 0.5f, 2.0f)});
  Runs r = run_both(c);
  expect_fused(r, {"BatchNormalization", "Relu"}, 0.0f, "Conv+BN+Relu");
  EXPECT_EQ(r.tap_names, (std::vector<std::string>{"a", "n", "y"}));
}

// The same on a map wide enough for the direct convolution path (conv_direct.cpp): post-ops per row.
TEST(Fusion, ConvBatchNormReluOnTheDirectPath) {
  OpCase c = conv_case("n = BatchNormalization <epsilon = 0.001> (a, s, bb, m, v)\n  y = Relu(n)", 5, 7, 41, 40);
  c.initializers.push_back({"s", test::random_tensor({7}, 10)});
  c.initializers.push_back({"bb", test::random_tensor({7}, 11)});
  c.initializers.push_back({"m", test::random_tensor({7}, 12)});
  c.initializers.push_back({"v", test::random_tensor({7}, 13, 0.5f, 2.0f)});
  expect_fused(run_both(c), {"BatchNormalization", "Relu"}, 0.0f, "Conv+BN+Relu, direct");
}

TEST(Fusion, DecomposedHardSwishAfterAffine) {
  // PP-OCR: Conv -> Mul(c) -> Add(d) -> x * Clip(x + 3, 0, 6) -> Div(6).
  OpCase c = conv_case(
      "p = Mul(k1, a)\n  q = Add(p, k2)\n  r = Add(q, k3)\n  t = Clip(r, lo, hi)\n  u = Mul(q, t)\n  y = Div(u, k6)", 4, 6, 2);
  c.initializers.push_back({"k1", Tensor::scalar<float>(0.75f)});
  c.initializers.push_back({"k2", test::tensor_of<float>({0.5f}, {1})});
  c.initializers.push_back({"k3", Tensor::scalar<float>(3.0f)});
  c.initializers.push_back({"lo", Tensor::scalar<float>(0.0f)});
  c.initializers.push_back({"hi", Tensor::scalar<float>(6.0f)});
  c.initializers.push_back({"k6", Tensor::scalar<float>(6.0f)});
  expect_fused(run_both(c, 2), {"Mul", "Add", "Clip", "Div"}, 0.0f, "hard-swish chain");
}

TEST(Fusion, PerChannelMulAddAndHardSigmoid) {
  OpCase c = conv_case("p = Mul(a, sc)\n  q = Add(bc, p)\n  y = HardSigmoid <alpha = 0.3, beta = 0.4> (q)", 3, 5, 3);
  c.initializers.push_back({"sc", test::random_tensor({5, 1, 1}, 20)});
  c.initializers.push_back({"bc", test::random_tensor({1, 5, 1, 1}, 21)});
  expect_fused(run_both(c), {"Mul", "Add", "HardSigmoid"}, 0.0f, "per-channel affine");
}

TEST(Fusion, SiluAndSigmoid) {
  OpCase c = conv_case("s = Sigmoid(a)\n  y = Mul(a, s)", 4, 8, 4);
  expect_fused(run_both(c), {"Sigmoid", "Mul"}, kSigmoidTol, "SiLU");
  c = conv_case("y = Sigmoid(a)", 4, 8, 5);
  expect_fused(run_both(c), {"Sigmoid"}, kSigmoidTol, "Sigmoid");
}

TEST(Fusion, GemmMatMulAndClipLeakyRelu) {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node = "a = Gemm <transB = 1> (x, w, b)\n  y = Clip(a, lo, hi)";
  c.inputs = {{"x", test::random_tensor({9, 13}, 30)}};
  c.initializers = {{"w", test::random_tensor({7, 13}, 31)}, {"b", test::random_tensor({7}, 32)},
                    {"lo", Tensor::scalar<float>(-0.5f)}, {"hi", Tensor::scalar<float>(0.25f)}};
  c.outputs = {{"y", DType::Float32}};
  expect_fused(run_both(c), {"Clip"}, 0.0f, "Gemm+Clip");
  c.node = "a = MatMul(x, w2)\n  y = LeakyRelu <alpha = 0.2> (a)";
  c.initializers = {{"w2", test::random_tensor({13, 6}, 33)}};
  expect_fused(run_both(c), {"LeakyRelu"}, 0.0f, "MatMul+LeakyRelu");
}

// openWakeWord: Conv -> LeakyRelu -> Max(t, c) (a floor), and Min(t, c): one-sided Clips in the
// epilogue, with the standalone kernels' bits.
TEST(Fusion, ConvLeakyReluMaxMinWithConstants) {
  OpCase c = conv_case("l = LeakyRelu <alpha = 0.2> (a)\n  m = Max(l, lo)\n  y = Min(m, hi)", 20, 24, 6, 17);
  c.initializers.push_back({"lo", Tensor::scalar<float>(-0.125f)});
  c.initializers.push_back({"hi", test::tensor_of<float>({0.75f}, {1})});
  expect_fused(run_both(c, 2), {"LeakyRelu", "Max", "Min"}, 0.0f, "Conv+LeakyRelu+Max+Min");
  c = conv_case("y = Max(lo, a)", 4, 5, 7);  // the constant first: not fused (signed zeros, NaN)
  c.initializers.push_back({"lo", Tensor::scalar<float>(0.0f)});
  Runs r = run_both(c);
  EXPECT_EQ(r.profile.count("Max"), 1u);
  test::expect_same_bits(r.fused, r.plain, "Max(c, t)");
}

TEST(Fusion, ObservedIntermediatesAreNotFused) {
  // `a` is also a graph output, so the Relu must run on its own.
  OpCase c = conv_case("y = Relu(a)", 3, 4, 6);
  c.outputs.push_back({"a", DType::Float32});
  Runs r = run_both(c);
  test::expect_same_bits(r.fused, r.plain, "Relu");
  EXPECT_EQ(r.profile.count("Relu"), 1u);
  // A constant varying along more than the channel dim is left to the Add kernel.
  c = conv_case("y = Add(a, big)", 3, 4, 7);
  c.initializers.push_back({"big", test::random_tensor({1, 4, 13, 1}, 8)});
  r = run_both(c);
  test::expect_same_bits(r.fused, r.plain, "per-row Add");
  EXPECT_EQ(r.profile.count("Add"), 1u);
}

TEST(PostOps, VectorSigmoidAccuracyAndPositionIndependence) {
  constexpr double kMaxRelError = 3e-7;  // measured 1.7e-7: exp polynomial + one Newton step on the reciprocal
  constexpr double kSmallest = 1.1754943508222875e-38;  // FLT_MIN: below it only the absolute error counts
  std::vector<float> xs;
  for (float x = -30.0f; x <= 30.0f; x += 0.0137f) xs.push_back(x);
  // Past exp's clamp on both sides (exp(-x) reaches 2^128 at x = -88.72: the YOLOX SiLU that gave NaN).
  for (float x = -120.0f; x <= 120.0f; x += 0.0625f) xs.push_back(x);
  for (float x : {-3e38f, -1e10f, -88.8f, -88.72283935546875f, -88.7f, -87.4f, 88.8f, 1e10f, 3e38f}) xs.push_back(x);
  for (int times_x = 0; times_x < 2; ++times_x) {
    exec::PostOps post;
    exec::PostOp op;
    op.kind = times_x ? exec::PostOp::Kind::Silu : exec::PostOp::Kind::Sigmoid;
    post.push(op);
    std::vector<float> v = xs;
    post.apply(v.data(), static_cast<int64_t>(v.size()), 0);
    double worst = 0.0;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double sig = 1.0 / (1.0 + std::exp(-static_cast<double>(xs[i])));
      const double want = times_x ? sig * xs[i] : sig;
      ASSERT_TRUE(std::isfinite(v[i])) << (times_x ? "silu(" : "sigmoid(") << xs[i] << ") = " << v[i];
      if (sig >= kSmallest && want != 0.0) worst = std::max(worst, std::fabs(v[i] - want) / std::fabs(want));
      else EXPECT_LE(std::fabs(v[i] - want), kSmallest * std::fabs(xs[i]) + kSmallest) << xs[i];  // sigmoid below FLT_MIN: may flush to 0
      float one = xs[i];  // the same value alone (a masked tail) gives the same bits
      post.apply(&one, 1, 0);
      ASSERT_EQ(std::memcmp(&one, &v[i], sizeof(float)), 0) << xs[i];
    }
    EXPECT_LE(worst, kMaxRelError) << (times_x ? "silu" : "sigmoid");
  }
}

TEST(Fusion, QuantizeDequantizePairsAndFoldedWeights) {
  // A Q/DQ model as quantizers write it: int8 weights with a DequantizeLinear (folded once at
  // construction), activations through Q -> DQ pairs (fused into the Conv epilogue as FakeQuant).
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node =
      "w = DequantizeLinear <axis = 0> (wq, ws, wz)\n  a = Conv <pads = [1, 1, 1, 1]> (x, w, b)\n  q1 = QuantizeLinear(a, s1, z1)\n"
      "  d1 = DequantizeLinear(q1, s1, z1)\n  r = Relu(d1)\n  q2 = QuantizeLinear(r, s2, z2)\n  y = DequantizeLinear(q2, s2, z2)";
  std::vector<int8_t> wq;
  for (int i = 0; i < 6 * 4 * 9; ++i) wq.push_back(static_cast<int8_t>((i * 37) % 255 - 127));
  c.inputs = {{"x", test::random_tensor({1, 4, 13, 11}, 40, -2.0f, 2.0f)}};
  c.initializers = {{"wq", test::tensor_of(wq, {6, 4, 3, 3})},
                    {"ws", test::tensor_of<float>({0.01f, 0.02f, 0.005f, 0.01f, 0.03f, 0.015f}, {6})},
                    {"wz", Tensor::zeros(DType::Int8, {6})},
                    {"b", test::random_tensor({6}, 41)},
                    {"s1", Tensor::scalar<float>(0.05f)},
                    {"z1", Tensor::scalar<uint8_t>(128)},
                    {"s2", Tensor::scalar<float>(0.025f)},
                    {"z2", Tensor::scalar<int8_t>(-100)}};
  c.outputs = {{"y", DType::Float32}};
  Runs r = run_both(c);
  expect_fused(r, {"QuantizeLinear", "DequantizeLinear", "Relu"}, 0.0f, "Q/DQ chain");
  EXPECT_EQ(r.tap_names, (std::vector<std::string>{"w", "a", "q1", "d1", "r", "q2", "y"}));
}
