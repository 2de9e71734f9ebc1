// SPDX-License-Identifier: Apache-2.0
// Transformer rules: LayerNormalization (as ONNX Runtime's QDQ quantizer), the Erf-GELU and decomposed
// LayerNorm patterns (quantized at their boundary, float inside), Div by a constant, the channel-scale
// Mul, attention-mask operands and Softmax-input rows, and shape arithmetic kept out of the float counts.
#include <cmath>

#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

bool quantized(const Quantized& q, const std::string& tensor) { return q.plan.tensors.count(tensor) != 0; }

}  // namespace

TEST(TransformerRules, LayerNormQuantizesInputGammaBetaAndOutputLikeOnnxRuntime) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
ln (float[2,3,8] x) => (float[2,3,8] y) {
  y = LayerNormalization <axis = -1> (x, G, B)
}
)");
  add_initializer(m, "G", random_tensor({8}, 1, 0.5f, 1.5f));
  add_initializer(m, "B", random_tensor({8}, 2));
  Quantized q = quantize(m);
  ASSERT_TRUE(quantized(q, "x") && quantized(q, "y"));
  EXPECT_EQ(q.plan.tensors.at("G").kind, rewrite::TensorPlan::Kind::Weight);
  EXPECT_EQ(q.plan.tensors.at("G").axis, 0);  // per channel along γ's (last) axis
  EXPECT_EQ(q.plan.tensors.at("B").kind, rewrite::TensorPlan::Kind::Bias);
  EXPECT_EQ(find_initializer(q.model, "B_quantized")->data_type(), onnx::TensorProto::INT32);
  EXPECT_EQ(find_initializer(q.model, "G_quantized")->data_type(), onnx::TensorProto::INT8);
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts["QuantizeLinear"], 2);
  EXPECT_EQ(counts["DequantizeLinear"], 4);
}

// Weight-only (dynamic) quantization leaves γ float: per channel along its only axis it would get one
// scale per value, which compresses nothing. The MatMul's weight is quantized; per tensor, γ is too.
TEST(TransformerRules, DynamicModeLeavesGammaFloat) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
ln (float[2,3,8] x) => (float[2,3,4] y) {
  n = LayerNormalization <axis = -1> (x, G, B)
  y = MatMul (n, W)
}
)");
  add_initializer(m, "G", random_tensor({8}, 1, 0.5f, 1.5f));
  add_initializer(m, "B", random_tensor({8}, 2));
  add_initializer(m, "W", random_tensor({8, 4}, 3));
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  Quantized q = quantize(m, o);
  EXPECT_FALSE(quantized(q, "G"));
  EXPECT_TRUE(quantized(q, "W"));
  EXPECT_EQ(q.plan.nodes[0].reason, "dynamic mode: its weights would get one scale per value (nothing to compress)");
  o.per_channel = false;
  EXPECT_TRUE(quantized(quantize(m, o), "G"));
}

// x → MatMul → h → Erf-GELU (Div, Erf, Add, Mul, Mul) → g → MatMul → y
onnx::ModelProto gelu_mlp() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
mlp (float[2,4,8] x) => (float[2,4,8] y) {
  h = MatMul (x, W1)
  u = Div (h, sqrt2)
  e = Erf (u)
  a = Add (e, one)
  p = Mul (h, a)
  g = Mul (p, half)
  y = MatMul (g, W2)
}
)");
  add_initializer(m, "W1", random_tensor({8, 16}, 3));
  add_initializer(m, "W2", random_tensor({16, 8}, 4));
  add_initializer(m, "sqrt2", Tensor::from_vector<float>({1.4142135f}, {}));
  add_initializer(m, "one", Tensor::from_vector<float>({1.0f}, {}));
  add_initializer(m, "half", Tensor::from_vector<float>({0.5f}, {}));
  return m;
}

TEST(TransformerRules, ErfGeluIsQuantizedAtItsBoundaryOnly) {
  Quantized q = quantize(gelu_mlp());
  EXPECT_TRUE(quantized(q, "h"));
  EXPECT_TRUE(quantized(q, "g"));
  for (const char* inside : {"u", "e", "a", "p", "sqrt2", "one", "half"}) EXPECT_FALSE(quantized(q, inside)) << inside;
  EXPECT_EQ(q.plan.pattern_node_count(), 5u);
  EXPECT_EQ(q.plan.float_node_count(), 0u);
  for (size_t i = 1; i <= 5; ++i) EXPECT_EQ(q.plan.nodes[i].pattern, "erf_gelu") << i;
  EXPECT_EQ(op_counts(q.model)["QuantizeLinear"], 4);  // x, h, g and the second MatMul's output y
}

TEST(TransformerRules, PatternWithAnExcludedMemberStaysFloatWhole) {
  onnx::ModelProto m = gelu_mlp();
  m.mutable_graph()->mutable_node(2)->set_name("the_erf");
  QuantOptions o;
  o.exclude = {"the_erf"};
  Quantized q = quantize(m, o);
  for (const char* inside : {"u", "e", "a", "p"}) EXPECT_FALSE(quantized(q, inside)) << inside;
  EXPECT_EQ(q.plan.pattern_node_count(), 0u);
  EXPECT_EQ(q.plan.float_node_count(), 5u);
}

TEST(TransformerRules, DecomposedLayerNormIsOnePattern) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
ln (float[2,3,8] x) => (float[2,3,8] y) {
  m = ReduceMean <axes = [-1]> (x)
  d = Sub (x, m)
  p = Pow (d, two)
  v = ReduceMean <axes = [-1]> (p)
  e = Add (v, eps)
  s = Sqrt (e)
  n = Div (d, s)
  g = Mul (n, G)
  y = Add (g, B)
}
)");
  add_initializer(m, "two", Tensor::from_vector<float>({2.0f}, {}));
  add_initializer(m, "eps", Tensor::from_vector<float>({1e-5f}, {}));
  add_initializer(m, "G", random_tensor({8}, 5, 0.5f, 1.5f));
  add_initializer(m, "B", random_tensor({8}, 6));
  Quantized q = quantize(m);
  EXPECT_TRUE(quantized(q, "x"));
  EXPECT_TRUE(quantized(q, "y"));
  for (const char* inside : {"m", "d", "p", "v", "e", "s", "n", "g", "G", "B"}) EXPECT_FALSE(quantized(q, inside)) << inside;
  EXPECT_EQ(q.plan.pattern_node_count(), 9u);
}

TEST(TransformerRules, DivByConstantIsQuantizedDivByDataIsNot) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
div (float[2,8] x, float[2,8] z) => (float[2,8] y, float[2,8] w) {
  y = Div (x, c)
  w = Div (x, z)
}
)");
  add_initializer(m, "c", Tensor::from_vector<float>({8.0f}, {}));
  Quantized q = quantize(m);
  EXPECT_TRUE(quantized(q, "y"));
  EXPECT_FALSE(quantized(q, "c"));
  EXPECT_FALSE(quantized(q, "w"));
  EXPECT_FALSE(quantized(q, "z"));
  EXPECT_FALSE(q.plan.nodes[1].quantized);
}

// scores = q·kᵀ / 4 (+ mask) → Softmax → · v
onnx::ModelProto attention(const std::string& mask_op) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
att (float[1,2,4,8] q, float[1,2,8,4] kt, float[1,2,4,8] v) => (float[1,2,4,8] y) {
  s = MatMul (q, kt)
  t = Div (s, four)
  b = )" + mask_op + R"(
  p = Softmax <axis = -1> (b)
  y = MatMul (p, v)
}
)");
  add_initializer(m, "four", Tensor::from_vector<float>({4.0f}, {}));
  std::vector<float> mask(16, 0.0f), fill{-std::numeric_limits<float>::infinity()};
  for (int r = 0; r < 4; ++r)
    for (int c = r + 1; c < 4; ++c) mask[static_cast<size_t>(r * 4 + c)] = -1e4f;
  add_initializer(m, "mask", Tensor::from_vector<float>(mask, {4, 4}));
  add_initializer(m, "fill", Tensor::from_vector<float>(fill, {}));
  add_initializer(m, "causal", Tensor::from_vector<uint8_t>({0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0}, {4, 4}));
  return m;
}

TEST(TransformerRules, AdditiveMaskStaysFloatAndSoftmaxInputIsCalibratedOnRowTops) {
  Quantized q = quantize(attention("Add (t, mask)"));
  EXPECT_FALSE(quantized(q, "mask"));
  ASSERT_TRUE(quantized(q, "t"));
  ASSERT_TRUE(quantized(q, "b"));
  EXPECT_TRUE(q.plan.tensors.at("b").softmax.on);
  EXPECT_EQ(q.plan.tensors.at("b").softmax.axis, -1);
  EXPECT_FALSE(q.plan.tensors.at("t").softmax.on);
  // Both attention MatMuls read two activations.
  for (const char* a : {"q", "kt", "p", "v"}) EXPECT_TRUE(quantized(q, a)) << a;
}

TEST(TransformerRules, MaskedFillWithMinusInfinityKeepsTheFillFloat) {
  onnx::ModelProto m = attention("Where (causal_b, fill, t)");
  // causal (uint8 constant) → bool
  onnx::NodeProto* cast = m.mutable_graph()->add_node();
  cast->set_op_type("Cast");
  cast->add_input("causal");
  cast->add_output("causal_b");
  onnx::AttributeProto* to = cast->add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(onnx::TensorProto::BOOL);
  auto* nodes = m.mutable_graph()->mutable_node();
  std::rotate(nodes->begin(), nodes->end() - 1, nodes->end());  // Cast first
  Quantized q = quantize(m);
  EXPECT_FALSE(quantized(q, "fill"));
  EXPECT_TRUE(quantized(q, "t"));
  EXPECT_TRUE(q.plan.tensors.at("b").softmax.on);
}

TEST(TransformerRules, ShapeArithmeticIsCountedApartFromFloatNodes) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
shp (float[N,6] x) => (float[N,2,3] y) {
  s = Shape (x)
  n = Gather <axis = 0> (s, zero)
  u = Unsqueeze (n, axes0)
  d = Concat <axis = 0> (u, dims)
  f = Cast <to = 1> (n)
  r = Sqrt (f)
  e = Erf (x)
  w = Mul (e, r)
  y = Reshape (w, d)
}
)");
  add_initializer(m, "zero", Tensor::from_vector<int64_t>({0}, {}));
  add_initializer(m, "axes0", Tensor::from_vector<int64_t>({0}, {1}));
  add_initializer(m, "dims", Tensor::from_vector<int64_t>({2, 3}, {2}));
  Quantized q = quantize(m);
  // Shape, Gather, Unsqueeze, Concat, Cast and Sqrt only see the shape; Erf stays float (no rule).
  EXPECT_EQ(q.plan.shape_node_count(), 6u);
  EXPECT_EQ(q.plan.float_node_count(), 1u);
  for (size_t i = 0; i < 6; ++i) EXPECT_FALSE(q.plan.nodes[i].compute) << i;
  EXPECT_TRUE(q.plan.nodes[6].compute);
}

TEST(TransformerRules, ChannelScaleMulQuantizesOnlyWhatTheMatMulReads) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
cs (float[2,8] x) => (float[2,4] y) {
  e = Erf (x)
  s = Mul (e, c)
  y = MatMul (s, W)
}
)");
  add_initializer(m, "c", random_tensor({8}, 7, 0.01f, 2.0f));
  add_initializer(m, "W", random_tensor({8, 4}, 8));
  Quantized q = quantize(m);
  EXPECT_TRUE(quantized(q, "s"));
  EXPECT_FALSE(quantized(q, "e"));
  EXPECT_FALSE(quantized(q, "c"));
}
