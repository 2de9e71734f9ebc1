// SPDX-License-Identifier: Apache-2.0
// Opset differences resolved by the kernel factories (attributes vs inputs, changed defaults) and
// the opset-18 forms that ONNX 1.12's node tests do not cover. Expected values are worked out by
// hand in the comments.
#include <cmath>

#include "ptq/exec/executor.h"
#include "testutil.h"

using namespace ptq;

namespace {

constexpr float kTol = 1e-6f;

exec::TensorMap run(const std::string& text, const exec::TensorMap& inputs) {
  Graph g = build_graph(test::parse_text_model(text));
  exec::Executor ex(g, exec::ExecOptions{1, false});
  return ex.run(inputs);
}

std::string model(int opset, const std::string& signature, const std::string& body) {
  return "<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\ng " + signature + " {\n" + body + "\n}\n";
}

void expect_floats(const Tensor& t, const Shape& shape, const std::vector<float>& want) {
  ASSERT_EQ(t.dtype(), DType::Float32);
  ASSERT_EQ(t.shape(), shape);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.data<float>()[i], want[i], kTol) << "element " << i;
}

Tensor floats(const std::vector<float>& v, Shape s) { return Tensor::from_vector<float>(v, std::move(s)); }

}  // namespace

TEST(OpsetVariants, ClipAttributesBefore11InputsAfter) {
  Tensor x = floats({-2, 0.5f, 3}, {3});
  auto a = run(model(6, "(float[3] x) => (float[3] y)", "y = Clip <min = -1.0, max = 1.0> (x)"), {{"x", x}});
  expect_floats(a.at("y"), {3}, {-1, 0.5f, 1});
  // Opset 13: min omitted (""), max = 1 -> only the upper bound applies.
  auto b = run(model(13, "(float[3] x, float hi) => (float[3] y)", "y = Clip (x, , hi)"),
               {{"x", x}, {"hi", Tensor::scalar<float>(1.0f)}});
  expect_floats(b.at("y"), {3}, {-2, 0.5f, 1});
}

TEST(OpsetVariants, SoftmaxFlattensBefore13) {
  // x = [[[0, ln 3], [0, 0]]]. Opset 11, axis 1: softmax over all four values e^x = {1, 3, 1, 1}
  // -> {1/6, 1/2, 1/6, 1/6}. Opset 13, axis 1: per column: {0, 0} -> {1/2, 1/2}; {ln 3, 0} -> {3/4, 1/4}.
  Tensor x = floats({0, std::log(3.0f), 0, 0}, {1, 2, 2});
  auto a = run(model(11, "(float[1,2,2] x) => (float[1,2,2] y)", "y = Softmax <axis = 1> (x)"), {{"x", x}});
  expect_floats(a.at("y"), {1, 2, 2}, {1.0f / 6, 0.5f, 1.0f / 6, 1.0f / 6});
  auto b = run(model(13, "(float[1,2,2] x) => (float[1,2,2] y)", "y = Softmax <axis = 1> (x)"), {{"x", x}});
  expect_floats(b.at("y"), {1, 2, 2}, {0.5f, 0.75f, 0.5f, 0.25f});
  // LogSoftmax-13 default axis -1 on the row {0, ln 3}: log(1/4), log(3/4).
  auto c = run(model(13, "(float[1,2,2] x) => (float[1,2,2] y)", "y = LogSoftmax (x)"), {{"x", x}});
  expect_floats(c.at("y"), {1, 2, 2}, {std::log(0.25f), std::log(0.75f), std::log(0.5f), std::log(0.5f)});
}

TEST(OpsetVariants, SplitAttributeInputAndNumOutputs) {
  Tensor x = floats({0, 1, 2, 3, 4}, {5});
  auto a = run(model(11, "(float[5] x) => (float[2] p, float[3] q)", "p, q = Split <split = [2, 3]> (x)"), {{"x", x}});
  expect_floats(a.at("p"), {2}, {0, 1});
  expect_floats(a.at("q"), {3}, {2, 3, 4});
  auto b = run(model(13, "(float[5] x, int64[2] s) => (float[4] p, float[1] q)", "p, q = Split (x, s)"),
               {{"x", x}, {"s", Tensor::from_vector<int64_t>({4, 1}, {2})}});
  expect_floats(b.at("p"), {4}, {0, 1, 2, 3});
  expect_floats(b.at("q"), {1}, {4});
  // Opset 18, num_outputs = 3 on 5 values: ceil(5/3) = 2 per part, the last one gets 1.
  auto c = run(model(18, "(float[5] x) => (float[2] p, float[2] q, float[1] r)", "p, q, r = Split <num_outputs = 3> (x)"),
               {{"x", x}});
  expect_floats(c.at("p"), {2}, {0, 1});
  expect_floats(c.at("q"), {2}, {2, 3});
  expect_floats(c.at("r"), {1}, {4});
}

TEST(OpsetVariants, SliceAttributesBefore10AndNegativeSteps) {
  Tensor x = floats({0, 1, 2, 3, 4}, {5});
  auto a = run(model(9, "(float[5] x) => (float[4] y)", "y = Slice <starts = [1], ends = [1000], axes = [0]> (x)"), {{"x", x}});
  expect_floats(a.at("y"), {4}, {1, 2, 3, 4});
  // starts -1 -> 4, ends -1000 -> clamped to -1, step -2: indices 4, 2, 0.
  auto i64 = [](int64_t v) { return Tensor::from_vector<int64_t>({v}, {1}); };
  auto b = run(model(13, "(float[5] x, int64[1] s, int64[1] e, int64[1] a, int64[1] st) => (float[3] y)", "y = Slice (x, s, e, a, st)"),
               {{"x", x}, {"s", i64(-1)}, {"e", i64(-1000)}, {"a", i64(0)}, {"st", i64(-2)}});
  expect_floats(b.at("y"), {3}, {4, 2, 0});
}

TEST(OpsetVariants, SqueezeUnsqueezeAxesAttributeBefore13) {
  Tensor x = floats({1, 2}, {1, 2, 1});
  auto a = run(model(11, "(float[1,2,1] x) => (float[2,1] y, float[1,1,2,1] z)",
                     "y = Squeeze <axes = [0]> (x)\n z = Unsqueeze <axes = [-4]> (x)"),
               {{"x", x}});
  expect_floats(a.at("y"), {2, 1}, {1, 2});
  expect_floats(a.at("z"), {1, 1, 2, 1}, {1, 2});
  // Opset 13 without axes: every dim of size 1 goes.
  auto b = run(model(13, "(float[1,2,1] x) => (float[2] y)", "y = Squeeze (x)"), {{"x", x}});
  expect_floats(b.at("y"), {2}, {1, 2});
}

TEST(OpsetVariants, ReduceAxesInputFrom18AndNoop) {
  // x = [[1, 2, 3], [4, 5, 6]]
  Tensor x = floats({1, 2, 3, 4, 5, 6}, {2, 3});
  auto a = run(model(13, "(float[2,3] x) => (float[2] y)", "y = ReduceMean <axes = [1], keepdims = 0> (x)"), {{"x", x}});
  expect_floats(a.at("y"), {2}, {2, 5});
  auto b = run(model(18, "(float[2,3] x, int64[1] ax) => (float[1,3] y)", "y = ReduceMean (x, ax)"),
               {{"x", x}, {"ax", Tensor::from_vector<int64_t>({0}, {1})}});
  expect_floats(b.at("y"), {1, 3}, {2.5f, 3.5f, 4.5f});
  // No axes: everything (max 6), or nothing with noop_with_empty_axes = 1.
  auto c = run(model(18, "(float[2,3] x) => (float[1,1] y, float[2,3] z)",
                     "y = ReduceMax (x)\n z = ReduceMax <noop_with_empty_axes = 1> (x)"),
               {{"x", x}});
  expect_floats(c.at("y"), {1, 1}, {6});
  expect_floats(c.at("z"), {2, 3}, {1, 2, 3, 4, 5, 6});
  // Non-adjacent axes {0, 2} of [2,2,2] = 0..7, keepdims 0: sums over (a, c) for b = 0, 1:
  // b = 0: 0+1+4+5 = 10; b = 1: 2+3+6+7 = 18.
  auto d = run(model(13, "(float[2,2,2] x, int64[2] ax) => (float[2] y)", "y = ReduceSum <keepdims = 0> (x, ax)"),
               {{"x", floats({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2})}, {"ax", Tensor::from_vector<int64_t>({0, 2}, {2})}});
  expect_floats(d.at("y"), {2}, {10, 18});
}

TEST(OpsetVariants, PadAttributesBefore11AndAxesFrom18) {
  Tensor x = floats({1, 2, 3}, {3});
  // reflect by 2 on the left, 1 on the right: [3, 2 | 1, 2, 3 | 2].
  auto a = run(model(2, "(float[3] x) => (float[6] y)", "y = Pad <pads = [2, 1], mode = \"reflect\"> (x)"), {{"x", x}});
  expect_floats(a.at("y"), {6}, {3, 2, 1, 2, 3, 2});
  // Opset 18: pads [1, 0] on axis 1 only of [1,3], constant 9: [9, 1, 2, 3].
  auto b = run(model(18, "(float[1,3] x, int64[2] p, float v, int64[1] ax) => (float[1,4] y)", "y = Pad (x, p, v, ax)"),
               {{"x", x.reshaped({1, 3})}, {"p", Tensor::from_vector<int64_t>({1, 0}, {2})},
                {"v", Tensor::scalar<float>(9)}, {"ax", Tensor::from_vector<int64_t>({-1}, {1})}});
  expect_floats(b.at("y"), {1, 4}, {9, 1, 2, 3});
  // edge by 2 on the right, crop 1 on the left: [2, 3, 3, 3].
  auto c = run(model(13, "(float[3] x, int64[2] p) => (float[4] y)", "y = Pad <mode = \"edge\"> (x, p)"),
               {{"x", x}, {"p", Tensor::from_vector<int64_t>({-1, 2}, {2})}});
  expect_floats(c.at("y"), {4}, {2, 3, 3, 3});
}

TEST(OpsetVariants, ResizeBefore11IsAsymmetricWithSimpleNearest) {
  // Upsample x2 (asymmetric, truncation): x' = x/2 -> 0,0,1,1,2,2.
  Tensor x = floats({10, 20, 30}, {1, 3});
  Tensor up = Tensor::from_vector<float>({1, 2}, {2});
  auto a = run(model(10, "(float[1,3] x, float[2] s) => (float[1,6] y)", "y = Resize (x, s)"), {{"x", x}, {"s", up}});
  expect_floats(a.at("y"), {1, 6}, {10, 10, 20, 20, 30, 30});
  auto b = run(model(7, "(float[1,3] x) => (float[1,6] y)", "y = Upsample <scales = [1.0, 2.0]> (x)"), {{"x", x}});
  expect_floats(b.at("y"), {1, 6}, {10, 10, 20, 20, 30, 30});
  // Downsample 4 -> 2 (scale 0.5): x' = 2x -> 0, 2 (integral, no rounding).
  auto c = run(model(10, "(float[1,4] x, float[2] s) => (float[1,2] y)", "y = Resize (x, s)"),
               {{"x", floats({1, 2, 3, 4}, {1, 4})}, {"s", Tensor::from_vector<float>({1, 0.5f}, {2})}});
  expect_floats(c.at("y"), {1, 2}, {1, 3});
  // Downsample 3 -> 2 (scale 0.75): x' = 0, 1.333 -> ceil -> 2.
  auto d = run(model(10, "(float[1,3] x, float[2] s) => (float[1,2] y)", "y = Resize (x, s)"),
               {{"x", x}, {"s", Tensor::from_vector<float>({1, 0.75f}, {2})}});
  expect_floats(d.at("y"), {1, 2}, {10, 30});
  // Linear x2, asymmetric: x' = 0, .5, 1, 1.5, 2, 2.5 (clamped at the edge).
  auto e = run(model(10, "(float[1,3] x, float[2] s) => (float[1,6] y)", "y = Resize <mode = \"linear\"> (x, s)"),
               {{"x", x}, {"s", up}});
  expect_floats(e.at("y"), {1, 6}, {10, 15, 20, 25, 30, 30});
}

TEST(OpsetVariants, ResizeAxesFrom18) {
  // sizes for axis 1 only: 2 -> 4, half_pixel nearest (round_prefer_floor): x' = (x+.5)/2 - .5 =
  // -.25, .25, .75, 1.25 -> 0, 0, 1, 1.
  auto a = run(model(18, "(float[1,2] x, int64[1] sz) => (float[1,4] y)", "y = Resize <axes = [1]> (x, , , sz)"),
               {{"x", floats({5, 7}, {1, 2})}, {"sz", Tensor::from_vector<int64_t>({4}, {1})}});
  expect_floats(a.at("y"), {1, 4}, {5, 5, 7, 7});
}

TEST(OpsetVariants, DropoutMaskIsAllTrue) {
  auto a = run(model(13, "(float[2] x) => (float[2] y, bool[2] m)", "y, m = Dropout (x)"), {{"x", floats({1, 2}, {2})}});
  expect_floats(a.at("y"), {2}, {1, 2});
  ASSERT_EQ(a.at("m").dtype(), DType::Bool);
  EXPECT_EQ(a.at("m").to_vector<uint8_t>(), (std::vector<uint8_t>{1, 1}));
}

TEST(OpsetVariants, CastToBfloat16RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between bf16 1.0 (0x3F80) and 1 + 2^-7 (0x3F81): ties go to even -> 0x3F80.
  // 1 + 3·2^-8 is halfway between 0x3F81 and 0x3F82 -> 0x3F82. 1 + 2^-8 + 2^-12 rounds up -> 0x3F81.
  auto a = run(model(13, "(float[3] x) => (bfloat16[3] y)", "y = Cast <to = 16> (x)"),
               {{"x", floats({1.00390625f, 1.01171875f, 1.0041503906f}, {3})}});
  ASSERT_EQ(a.at("y").dtype(), DType::BFloat16);
  EXPECT_EQ(a.at("y").to_vector<uint16_t>(), (std::vector<uint16_t>{0x3F80, 0x3F82, 0x3F81}));
}

TEST(OpsetVariants, RejectedAttributeValuesAreListedBeforeRunning) {
  Graph g = build_graph(test::parse_text_model(model(18, "(float[1,2] x, float[2] s) => (float[1,4] y)",
                                                     "r = Resize <antialias = 1, mode = \"linear\"> (x, , s)\n"
                                                     "y = Pad <mode = \"mirror\"> (r, s)")));
  try {
    exec::Executor ex(g);
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("2 unsupported nodes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(Resize, opset 18): antialias = 1 is not supported"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(Pad, opset 18): mode 'mirror'"), std::string::npos) << msg;
  }
}
