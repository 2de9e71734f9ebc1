// SPDX-License-Identifier: Apache-2.0
// The blocked layout between kernels (src/exec/layout.h): a fused run that keeps convolution outputs in
// the channel-blocked layout (nChw16c or nChw8c, exec::channel_block()) gives the same bits as the
// node-by-node NCHW run and as any thread count; graph outputs, fetched tensors and plain readers get
// NCHW (conversions counted in the profile as "Reorder").
#include "dnnl_conv.h"
#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

// Channel counts off the 8- and 16-lane blocks (5, 24 with 16 lanes, 20): padding lanes exist; a
// residual Add and a Mul of two blocked tensors; a depthwise and a strided convolution; MaxPool reads a
// blocked tensor (one conversion); `e` is a graph output and also read by a convolution (never blocked).
OpCase residual_case() {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node =
      "a = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)\n"
      "  r = Relu (a)\n"
      "  d = Conv <group = 24, pads = [1, 1, 1, 1]> (r, w2, b2)\n"
      "  p = Conv (d, w3)\n"
      "  e = Add (p, r)\n"
      "  f = Mul (e, d)\n"
      "  g = MaxPool <kernel_shape = [2, 2]> (f)\n"
      "  h = Conv <strides = [2, 2], pads = [0, 0, 1, 1]> (e, w4, b4)\n"
      "  k = Conv (f, w5)\n"
      "  y = Add (k, f)";
  c.inputs = {{"x", test::random_tensor({2, 5, 13, 11}, 1, -2.0f, 2.0f)}};
  c.initializers = {{"w1", test::random_tensor({24, 5, 3, 3}, 2)}, {"b1", test::random_tensor({24}, 3)},
                    {"w2", test::random_tensor({24, 1, 3, 3}, 4)}, {"b2", test::random_tensor({24}, 5)},
                    {"w3", test::random_tensor({24, 24, 1, 1}, 6)}, {"w4", test::random_tensor({20, 24, 3, 3}, 7)},
                    {"b4", test::random_tensor({20}, 8)},        {"w5", test::random_tensor({24, 24, 1, 1}, 9)}};
  c.outputs = {{"y", DType::Float32}, {"g", DType::Float32}, {"h", DType::Float32}, {"e", DType::Float32}};
  return c;
}

// `reorders`: conversions to NCHW a plain reader forces when oneDNN is built in.
exec::TensorMap run(const Graph& g, const OpCase& c, exec::ExecOptions o, const exec::RunOptions& ro = {}, int64_t reorders = 0) {
  exec::Executor ex(g, o);
  exec::TensorMap in;
  for (const auto& kv : c.inputs) in[kv.first] = kv.second;
  exec::TensorMap out = ex.run(in, ro);
  if (o.profile) {
    auto prof = ex.profile();
    const int64_t got = prof.count("Reorder") ? prof.at("Reorder").calls : 0;
    EXPECT_EQ(got, exec::have_dnnl() ? reorders : 0);
  }
  return out;
}

TEST(Layout, BlockedRunGivesTheNodeByNodeBits) {
  const OpCase c = residual_case();
  Graph g = test::op_graph(c);
  exec::TensorMap plain = run(g, c, exec::ExecOptions{1, false, false, false});
  for (int threads : {1, 2, 3}) {
    // Blocked: r (Conv + Relu), d, p, k. e is a graph output (NCHW), so Mul(e, d) converts d; f is made
    // by the plain Mul, so Add(k, f) converts k: two conversions.
    exec::TensorMap fused = run(g, c, exec::ExecOptions{threads, true, true, true}, {}, 2);
    for (const auto& o : c.outputs) {
      ASSERT_EQ(fused.at(o.first).rank(), 4) << o.first << ": graph outputs are NCHW";
      test::expect_same_bits(fused.at(o.first), plain.at(o.first), o.first + " threads " + std::to_string(threads));
    }
  }
}

TEST(Layout, FetchedTensorsAreNchw) {
  const OpCase c = residual_case();
  Graph g = test::op_graph(c);
  exec::TensorMap plain = run(g, c, exec::ExecOptions{1, false, false, false}, exec::RunOptions{nullptr, {"a", "d"}});
  exec::RunOptions ro;
  ro.fetch = {"a"};  // a is fused away (Conv + Relu): the run goes node by node, nothing blocked
  exec::TensorMap fused = run(g, c, exec::ExecOptions{2, true, true, true}, ro, 0);
  test::expect_same_bits(fused.at("a"), plain.at("a"), "fetched a");
  ro.fetch = {"d"};  // d would stay blocked; fetched, it is written NCHW (only k is converted)
  exec::TensorMap fused_d = run(g, c, exec::ExecOptions{2, true, true, true}, ro, 1);
  ASSERT_EQ(fused_d.at("d").rank(), 4);
  test::expect_same_bits(fused_d.at("d"), plain.at("d"), "fetched d");
  test::expect_same_bits(fused_d.at("y"), plain.at("y"), "y with d fetched");
}

// Concat of blocked tensors: 16 + 24 channels stay blocked (whole blocks first); with 16-lane blocks
// 24 + 16 cannot (the first input's padding would land inside the result) and is written NCHW by the
// Concat itself. Max
// and Sub of blocked tensors; a blocked MaxPool (ceil mode, asymmetric pads) feeding a convolution.
TEST(Layout, ConcatMaxSubMaxPoolOfBlockedTensors) {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node =
      "a = Conv <pads = [1, 1, 1, 1]> (x, w1)\n"
      "  b = Conv (x, w2, b2)\n"
      "  j = Concat <axis = 1> (a, b)\n"
      "  k = Concat <axis = 1> (b, a)\n"
      "  m = Conv (j, w3)\n"
      "  n = Conv (k, w3)\n"
      "  y = Max (m, n)\n"
      "  z = Sub (m, n)\n"
      "  q = MaxPool <kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 1, 1], ceil_mode = 1> (m)\n"
      "  u = Conv (q, w4)";
  c.inputs = {{"x", test::random_tensor({1, 7, 9, 10}, 21, -2.0f, 2.0f)}};
  c.initializers = {{"w1", test::random_tensor({16, 7, 3, 3}, 22)}, {"w2", test::random_tensor({24, 7, 1, 1}, 23)},
                    {"b2", test::random_tensor({24}, 24)}, {"w3", test::random_tensor({8, 40, 1, 1}, 25)},
                    {"w4", test::random_tensor({5, 8, 1, 1}, 26)}};
  c.outputs = {{"y", DType::Float32}, {"z", DType::Float32}, {"u", DType::Float32}};
  Graph g = test::op_graph(c);
  exec::TensorMap plain = run(g, c, exec::ExecOptions{1, false, false, false});
  // No conversions: Concat(b, a) unblocks a and b into its NCHW output; Max and Sub read m and n
  // blocked and write their graph outputs NCHW themselves.
  for (int threads : {1, 2}) {
    exec::TensorMap fused = run(g, c, exec::ExecOptions{threads, true, true, true}, {}, 0);
    for (const auto& o : c.outputs) test::expect_same_bits(fused.at(o.first), plain.at(o.first), o.first);
  }
}

// Resize of a blocked tensor (20 channels: padding lanes): nearest 2x, nearest along W only, linear to
// given sizes, each read by a convolution; a tf_crop_and_resize declines (its extrapolation value would
// fill the padding lanes) and converts its input (also read blocked by a convolution). A detection head's Concat of 4 + 1 + 19 blocked
// channels and the plain input, written NCHW in one pass.
TEST(Layout, ResizeAndHeadConcatOfBlockedTensors) {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node =
      "a = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)\n"
      "  r = Resize (a, , s2)\n"
      "  u = Conv (r, w5)\n"
      "  rw = Resize <mode = \"nearest\", coordinate_transformation_mode = \"asymmetric\"> (a, , sw)\n"
      "  z = Conv (rw, w5)\n"
      "  l = Resize <mode = \"linear\"> (a, , , sz)\n"
      "  v = Conv (l, w5)\n"
      "  h1 = Conv (x, w7)\n"
      "  h2 = Conv (x, w8)\n"
      "  h3 = Conv (x, w9)\n"
      "  y = Concat <axis = 1> (h1, h2, h3, x)\n"
      "  a2 = Conv (x, w6)\n"
      "  t = Resize <mode = \"linear\", coordinate_transformation_mode = \"tf_crop_and_resize\", extrapolation_value = 3.0> (a2, roi, , sz)\n"
      "  t2 = Conv (a2, w5)";
  c.inputs = {{"x", test::random_tensor({1, 7, 9, 10}, 51, -2.0f, 2.0f)}};
  c.initializers = {{"w1", test::random_tensor({20, 7, 3, 3}, 52)},
                    {"b1", test::random_tensor({20}, 53)},
                    {"w5", test::random_tensor({6, 20, 1, 1}, 54)},
                    {"w6", test::random_tensor({20, 7, 1, 1}, 58)},
                    {"w7", test::random_tensor({4, 7, 1, 1}, 55)},
                    {"w8", test::random_tensor({1, 7, 1, 1}, 56)},
                    {"w9", test::random_tensor({19, 7, 1, 1}, 57)},
                    {"s2", test::tensor_of<float>({1, 1, 2, 2}, {4})},
                    {"sw", test::tensor_of<float>({1, 1, 1, 2.5f}, {4})},
                    {"sz", test::tensor_of<int64_t>({1, 20, 5, 13}, {4})},
                    {"roi", test::tensor_of<float>({0, 0, -0.2f, 0.1f, 1, 1, 0.9f, 1.3f}, {8})}};
  c.outputs = {{"u", DType::Float32}, {"z", DType::Float32}, {"v", DType::Float32}, {"y", DType::Float32}, {"t", DType::Float32},
               {"t2", DType::Float32}};
  Graph g = test::op_graph(c);
  exec::TensorMap plain = run(g, c, exec::ExecOptions{1, false, false, false});
  ASSERT_EQ(plain.at("y").shape(), (Shape{1, 31, 9, 10}));
  // One conversion: a2 for the tf_crop_and_resize (a declining Resize of a would convert a too).
  for (int threads : {1, 2, 3}) {
    exec::TensorMap fused = run(g, c, exec::ExecOptions{threads, true, true, true}, {}, 1);
    for (const auto& o : c.outputs)
      test::expect_same_bits(fused.at(o.first), plain.at(o.first), o.first + " threads " + std::to_string(threads));
  }
}

// Concat's blocked form sees every Concat: rank-3 inputs (a detector's reshaped heads) and plain 4-D
// ones are left to, or copied exactly like, the plain kernel.
TEST(Layout, ConcatOfPlainAndRank3Tensors) {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node =
      "a = Conv (x, w1)\n"
      "  b = Reshape (a, s)\n"
      "  y = Concat <axis = 1> (b, b)\n"
      "  z = Concat <axis = 1> (x, x)";
  c.inputs = {{"x", test::random_tensor({1, 7, 9, 10}, 61)}};
  c.initializers = {{"w1", test::random_tensor({20, 7, 1, 1}, 62)}, {"s", test::tensor_of<int64_t>({1, 20, 90}, {3})}};
  c.outputs = {{"y", DType::Float32}, {"z", DType::Float32}};
  Graph g = test::op_graph(c);
  exec::TensorMap plain = run(g, c, exec::ExecOptions{1, false, false, false});
  exec::TensorMap fused = run(g, c, exec::ExecOptions{2, true, true, true}, {}, 0);
  for (const auto& o : c.outputs) test::expect_same_bits(fused.at(o.first), plain.at(o.first), o.first);
}

// One executor fed many input widths (a text recognizer's variable-width lines): more shapes than the
// per-convolution primitive cache holds, so it starts over on the way; every width gives the bits of an
// executor that sees that width only.
TEST(Layout, ManyInputShapesThroughOneExecutor) {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node = "a = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)\n  y = Relu (a)";
  c.inputs = {{"x", test::random_tensor({1, 8, 6, 5}, 31)}};
  c.initializers = {{"w1", test::random_tensor({20, 8, 3, 3}, 32)}, {"b1", test::random_tensor({20}, 33)}};
  c.outputs = {{"y", DType::Float32}};
  std::string text = test::model_text(c);
  const std::string fixed = "float[1,8,6,5] x";
  text.replace(text.find(fixed), fixed.size(), "float[1,8,6,W] x");
  onnx::ModelProto model = test::parse_text_model(text);
  for (const auto& kv : c.initializers) test::add_initializer(model, kv.first, kv.second);
  Graph g = build_graph(model, GraphOptions{false, {}});
  exec::Executor shared(g, exec::ExecOptions{2, false, true, true});
  for (int64_t width = 3; width < 45; ++width) {
    exec::TensorMap in{{"x", test::random_tensor({1, 8, 6, width}, 40 + static_cast<uint32_t>(width))}};
    exec::Executor alone(g, exec::ExecOptions{2, false, true, true});
    test::expect_same_bits(shared.run(in).at("y"), alone.run(in).at("y"), "width " + std::to_string(width));
  }
}

// Post-ops over blocked outputs of one channel block on maps of more than one post-op run (48x48 =
// 2304 pixels: runs of 1024, 1024 and 256), a convolution large enough to be split (8 -> 8 channels,
// 3x3, 48x48) and small ones that stay on one thread whatever the thread count (thread_policy.h): the
// node-by-node bits for 1 to 3 threads.
TEST(Layout, PostOpRunsAndThreadPicksGiveTheNodeByNodeBits) {
  OpCase c;
  c.opsets = "\"\" : 13";
  c.node =
      "a = Conv <pads = [1, 1, 1, 1]> (x, w1, b1)\n"
      "  r = Clip (a, lo, hi)\n"
      "  d = Conv <group = 8, pads = [1, 1, 1, 1], strides = [4, 4]> (r, w2, b2)\n"
      "  e = LeakyRelu <alpha = 0.1> (d)\n"
      "  y = Conv (e, w3)";
  c.inputs = {{"x", test::random_tensor({1, 8, 48, 48}, 21, -2.0f, 2.0f)}};
  c.initializers = {{"w1", test::random_tensor({8, 8, 3, 3}, 22)}, {"b1", test::random_tensor({8}, 23)},
                    {"lo", Tensor::scalar(-0.5f)},                  {"hi", Tensor::scalar(0.75f)},
                    {"w2", test::random_tensor({8, 1, 3, 3}, 24)}, {"b2", test::random_tensor({8}, 25)},
                    {"w3", test::random_tensor({5, 8, 1, 1}, 26)}};
  c.outputs = {{"y", DType::Float32}};
  Graph g = test::op_graph(c);
  exec::TensorMap plain = run(g, c, exec::ExecOptions{1, false, false, false});
  for (int threads : {1, 2, 3}) {
    exec::TensorMap fused = run(g, c, exec::ExecOptions{threads, false, true, true});
    test::expect_same_bits(fused.at("y"), plain.at("y"), "threads " + std::to_string(threads));
  }
}

// Padding lanes of a blocked convolution output stay zero after post-ops: refilled after those that
// move 0 (Clip to [0.25, 0.75], Add of a per-channel constant), left alone after those that keep it
// (Relu); the real lanes hold the plain run's values (5 real channels in a block of 8 or 16 lanes,
// 40x40 = two post-op runs).
TEST(Layout, PaddingLanesStayZeroAfterPostOps) {
  if (!exec::have_dnnl()) GTEST_SKIP() << "oneDNN not built in";
  const int64_t B = exec::channel_block(), M = 5;
  exec::PostOp clip;
  clip.kind = exec::PostOp::Kind::Clip;
  clip.lo = 0.25f;
  clip.hi = 0.75f;
  exec::PostOp add;
  add.kind = exec::PostOp::Kind::Add;
  add.per_channel = {1, 2, 3, 4, 5};
  exec::PostOp relu;
  std::vector<exec::PostOps> cases(3);
  cases[0].push(clip);
  cases[1].push(add);
  cases[2].push(relu);
  const Tensor x = test::random_tensor({1, 3, 40, 40}, 31);
  const Tensor w = test::random_tensor({M, 3, 3, 3}, 32);
  exec::WindowAttrs attrs;
  attrs.pads = {1, 1, 1, 1};
  for (size_t k = 0; k < cases.size(); ++k) {
    for (int threads : {1, 2}) {
      auto conv = exec::DnnlConv::create(attrs, 1, cases[k]);
      const Tensor blocked = conv->run(x, 0, w, nullptr, true, threads);
      ASSERT_TRUE(blocked.defined());
      ASSERT_EQ(blocked.shape(), (Shape{1, 1, 40, 40, B}));
      const Tensor plain = exec::DnnlConv::create(attrs, 1, cases[k])->run(x, 0, w, nullptr, false, threads);
      const float* b = blocked.data<float>();
      const float* q = plain.data<float>();
      for (int64_t p = 0; p < 1600; ++p)
        for (int64_t l = 0; l < B; ++l) {
          const float want = l < M ? q[l * 1600 + p] : 0.0f;
          ASSERT_EQ(b[p * B + l], want) << "case " << k << " threads " << threads << " pixel " << p << " lane " << l;
        }
    }
  }
}

TEST(Layout, BlockAndUnblockRoundTrip) {
  const int64_t B = exec::channel_block(), Cb = (21 + B - 1) / B;
  Tensor x = test::random_tensor({2, 21, 3, 5}, 11);
  Tensor b = exec::block(x, 1);
  ASSERT_EQ(b.shape(), (Shape{2, Cb, 3, 5, B}));
  const float* pb = b.data<float>();
  const float* px = x.data<float>();
  // Element (n, c, h, w) sits at [n][c / B][h][w][c % B]; lanes past channel 20 are zero.
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < Cb * B; ++c)
      for (int64_t p = 0; p < 15; ++p) {
        const float got = pb[((n * Cb + c / B) * 15 + p) * B + c % B];
        ASSERT_EQ(got, c < 21 ? px[(n * 21 + c) * 15 + p] : 0.0f) << n << " " << c << " " << p;
      }
  test::expect_same_bits(exec::unblock(b, 21, 2), x, "round trip");
}

}  // namespace
