// SPDX-License-Identifier: Apache-2.0
// Rule tests: which tensors each op family quantizes, axes, generated names, shared parameters,
// Relu/Clip folding, weights in Constant nodes and shared weights, exclusion and op-type filters.
#include <cmath>

#include "ptq/ir/npy.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

constexpr float kScaleTol = 1e-7f;  // scales are computed in the same float arithmetic

void name_nodes(onnx::ModelProto& m, const std::vector<std::string>& names) {
  for (size_t i = 0; i < names.size(); ++i) m.mutable_graph()->mutable_node(static_cast<int>(i))->set_name(names[i]);
}

// x → Conv(W, B) → c → Relu → y (graph output).
onnx::ModelProto conv_relu_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
convrelu (float[1,2,4,4] x) => (float[1,3,4,4] y) {
  c = Conv <pads = [1, 1, 1, 1]> (x, W, B)
  y = Relu(c)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 3, 3}, 1));
  add_initializer(m, "B", Tensor::from_vector<float>({0.5f, -0.25f, 0.125f}, {3}));
  name_nodes(m, {"conv1", "relu1"});
  return m;
}

// x → Conv(W) → a → Conv(W) → y: one weight read by two nodes, named conv1 and `second`.
onnx::ModelProto shared_weight_model(const std::string& second) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
shared (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  a = Conv (x, W)
  y = Conv (a, W)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 13));
  name_nodes(m, {"conv1", second});
  return m;
}

std::vector<std::string> inputs_of(const onnx::NodeProto* n) {
  EXPECT_NE(n, nullptr);
  return n ? std::vector<std::string>(n->input().begin(), n->input().end()) : std::vector<std::string>{};
}

}  // namespace

TEST(Rules, ConvReluFoldsReluIntoConvOutput) {
  Quantized q = quantize(conv_relu_model(), {}, {{"x", {-1.0f, 3.0f}}, {"y", {0.0f, 6.0f}}});
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts["QuantizeLinear"], 2);
  EXPECT_EQ(counts["DequantizeLinear"], 4);
  EXPECT_EQ(counts["Conv"], 1);
  EXPECT_EQ(counts.count("Relu"), 0u);
  EXPECT_EQ(q.plan.quantized_node_count(), 1u);
  EXPECT_TRUE(q.plan.nodes[1].removed);
  EXPECT_EQ(q.plan.renamed.at("c"), "y");

  const onnx::NodeProto* conv = find_node(q.model, "conv1");
  EXPECT_EQ(inputs_of(conv), (std::vector<std::string>{"x_DequantizeLinear_Output", "W_DequantizeLinear_Output",
                                                       "B_DequantizeLinear_Output"}));
  ASSERT_EQ(conv->output(0), "y_QuantizeLinear_Input");
  EXPECT_EQ(inputs_of(find_node(q.model, "x_QuantizeLinear")), (std::vector<std::string>{"x", "x_scale", "x_zero_point"}));
  EXPECT_EQ(inputs_of(find_node(q.model, "y_QuantizeLinear")),
            (std::vector<std::string>{"y_QuantizeLinear_Input", "y_scale", "y_zero_point"}));
  const onnx::NodeProto* ydq = find_node(q.model, "y_DequantizeLinear");
  ASSERT_NE(ydq, nullptr);
  EXPECT_EQ(ydq->output(0), "y");  // the graph output keeps its name
  EXPECT_EQ(inputs_of(find_node(q.model, "W_DequantizeLinear")),
            (std::vector<std::string>{"W_quantized", "W_scale", "W_zero_point"}));
  EXPECT_EQ(attr_int(*find_node(q.model, "W_DequantizeLinear"), "axis", -99), 0);

  // Relu output range [0, 6] quantizes the Conv output: uint8 scale 6/255, zero point 0.
  EXPECT_NEAR(initializer_value(q.model, "y_scale").data<float>()[0], 6.0f / 255.0f, kScaleTol);
  EXPECT_EQ(initializer_value(q.model, "y_zero_point").data<uint8_t>()[0], 0);
  EXPECT_EQ(initializer_value(q.model, "x_zero_point").data<uint8_t>()[0], 64);  // 255 / 4 = 63.75
  // Weights: int8 initializer of the same shape, float W and its input entry gone.
  Tensor wq = initializer_value(q.model, "W_quantized");
  EXPECT_EQ(wq.dtype(), DType::Int8);
  EXPECT_EQ(wq.shape(), (Shape{3, 2, 3, 3}));
  EXPECT_EQ(initializer_value(q.model, "W_scale").shape(), (Shape{3}));
  EXPECT_EQ(initializer_value(q.model, "W_zero_point").dtype(), DType::Int8);
  EXPECT_EQ(find_initializer(q.model, "W"), nullptr);

  auto targets = rewrite::calib_targets(q.plan);
  ASSERT_EQ(targets.size(), 3u);  // W, x, y; not the Conv output c
  EXPECT_EQ(targets[0].tensor, "W");
  EXPECT_TRUE(targets[0].is_weight);
  EXPECT_EQ(targets[0].axis, 0);
  EXPECT_EQ(targets[0].spec.type, QType::Int8);
  EXPECT_TRUE(targets[0].spec.symmetric);
  EXPECT_EQ(targets[1].tensor, "x");
  EXPECT_EQ(targets[2].tensor, "y");
  EXPECT_FALSE(targets[2].is_weight);
}

TEST(Rules, BiasIsInt32WithScaleOfInputTimesWeight) {
  onnx::ModelProto m = conv_relu_model();
  Quantized q = quantize(m, {}, {{"x", {-1.0f, 3.0f}}, {"y", {0.0f, 6.0f}}});
  // Hand computation: s_x = 4/255 (asymmetric uint8 over [-1, 3]); s_w[c] = max|W[c]| / 127.
  Tensor w = random_tensor({3, 2, 3, 3}, 1);
  const float bias[3] = {0.5f, -0.25f, 0.125f};
  const float sx = 4.0f / 255.0f;
  Tensor bq = initializer_value(q.model, "B_quantized");
  Tensor bs = initializer_value(q.model, "B_scale");
  ASSERT_EQ(bq.dtype(), DType::Int32);
  EXPECT_EQ(inputs_of(find_node(q.model, "B_DequantizeLinear")), (std::vector<std::string>{"B_quantized", "B_scale"}));
  EXPECT_EQ(find_initializer(q.model, "B_zero_point"), nullptr);  // zero point 0: the default
  for (int c = 0; c < 3; ++c) {
    float absmax = 0.0f;
    for (int i = 0; i < 18; ++i) absmax = std::max(absmax, std::fabs(w.data<float>()[c * 18 + i]));
    const float sw = absmax / 127.0f;
    EXPECT_NEAR(bs.data<float>()[c], sx * sw, 1e-9f) << "channel " << c;
    EXPECT_EQ(bq.data<int32_t>()[c], static_cast<int32_t>(std::nearbyint(bias[c] / (double(sx) * sw))))
        << "channel " << c;
  }
  EXPECT_EQ(attr_int(*find_node(q.model, "B_DequantizeLinear"), "axis", -99), 0);
}

TEST(Rules, ReluKeptWithSymmetricActivations) {
  QuantOptions o;
  o.symmetric_activations = true;
  Quantized q = quantize(conv_relu_model(), o);
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts["Relu"], 1);
  EXPECT_EQ(counts["QuantizeLinear"], 3);  // x, c, y
  EXPECT_EQ(find_node(q.model, "conv1")->output(0), "c");
  EXPECT_EQ(initializer_value(q.model, "y_zero_point").data<uint8_t>()[0], 128);  // symmetric uint8
  // The Conv output is not calibrated: its Q/DQ reuse the Relu output's parameters.
  EXPECT_TRUE(q.plan.tensors.at("c").params_from == "y");
  const onnx::NodeProto* qc = find_node(q.model, "c_QuantizeLinear");
  ASSERT_NE(qc, nullptr);
  EXPECT_EQ(qc->input(1), "y_scale");
  EXPECT_EQ(qc->input(2), "y_zero_point");
  EXPECT_EQ(find_initializer(q.model, "c_scale"), nullptr);
}

TEST(Rules, ClipFoldsOnlyWhenItsRangeHoldsZero) {
  const char* text = R"(
<ir_version: 8, opset_import: ["" : 13]>
clips (float[1,2,4,4] x) => (float[1,3,4,4] y, float[1,3,4,4] z) {
  a = Conv (x, W)
  y = Clip (a, lo0, hi6)
  b = Conv (x, W)
  z = Clip (b, lo1, hi6)
}
)";
  onnx::ModelProto m = parse_text_model(text);
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 2));
  add_initializer(m, "lo0", Tensor::scalar<float>(0.0f));
  add_initializer(m, "lo1", Tensor::scalar<float>(1.0f));
  add_initializer(m, "hi6", Tensor::scalar<float>(6.0f));
  name_nodes(m, {"conv_a", "clip_a", "conv_b", "clip_b"});
  Quantized q = quantize(m);
  EXPECT_TRUE(q.plan.nodes[1].removed);   // Clip(0, 6): Relu6, folded
  EXPECT_FALSE(q.plan.nodes[3].removed);  // Clip(1, 6): the quantizer cannot clamp at 1
  EXPECT_EQ(op_counts(q.model)["Clip"], 1);
  EXPECT_NE(find_node(q.model, "clip_b"), nullptr);
  EXPECT_EQ(find_node(q.model, "conv_a")->output(0), "y_QuantizeLinear_Input");
}

TEST(Rules, ReluNotFoldedWhenConvOutputHasAnotherReader) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
two (float[1,2,4,4] x) => (float[1,3,4,4] y, float[1,3,4,4] c) {
  c = Conv (x, W)
  y = Relu (c)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 3));
  Quantized q = quantize(m);
  EXPECT_FALSE(q.plan.nodes[1].removed);
  EXPECT_EQ(op_counts(q.model)["Relu"], 1);
}

TEST(Rules, DataMovementSharesItsInputParameters) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
move (float[1,2,4,4] x) => (float[1,5] y) {
  c = Conv (x, W)
  p = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (c)
  r = Reshape (p, shape)
  t = Transpose <perm = [0, 1]> (r)
  y = MatMul (t, M)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 4));
  add_initializer(m, "shape", Tensor::from_vector<int64_t>({1, 12}, {2}));
  add_initializer(m, "M", random_tensor({12, 5}, 5));
  Quantized q = quantize(m);
  for (const char* t : {"p", "r", "t"}) {
    EXPECT_EQ(q.plan.tensors.at(t).params_from, "c") << t;
    EXPECT_EQ(inputs_of(find_node(q.model, std::string(t) + "_QuantizeLinear")),
              (std::vector<std::string>{t, "c_scale", "c_zero_point"}))
        << t;
  }
  for (const auto& target : rewrite::calib_targets(q.plan))
    EXPECT_TRUE(target.tensor != "p" && target.tensor != "r" && target.tensor != "t") << target.tensor;
  EXPECT_EQ(q.plan.tensors.at("M").axis, 1);  // MatMul weight [K, N]: per column
  EXPECT_EQ(attr_int(*find_node(q.model, "M_DequantizeLinear"), "axis", -99), 1);
}

TEST(Rules, DataMovementOnFloatInputStaysFloat) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
f (float[1,2,4,4] x) => (float[1,3,4,4] y) {
  e = Exp (x)
  r = Reshape (e, shape)
  y = Conv (r, W)
}
)");
  add_initializer(m, "shape", Tensor::from_vector<int64_t>({1, 2, 4, 4}, {4}));
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 6));
  Quantized q = quantize(m);
  EXPECT_FALSE(q.plan.nodes[1].quantized);  // Reshape of a float tensor: nothing to share
  EXPECT_EQ(q.plan.tensors.count("e"), 0u);
  EXPECT_EQ(q.plan.tensors.count("r"), 1u);  // requested by the Conv
  EXPECT_EQ(op_counts(q.model)["QuantizeLinear"], 2);  // r and y
}

TEST(Rules, DataMovementSharesWhenALaterConsumerQuantizesTheInput) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
f (float[1,2,4,4] x) => (float[1,32] y, float[1,3,4,4] z) {
  y = Reshape (x, shape)
  z = Conv (x, W)
}
)");
  add_initializer(m, "shape", Tensor::from_vector<int64_t>({1, 32}, {2}));
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 7));
  Quantized q = quantize(m);
  EXPECT_EQ(q.plan.tensors.at("y").params_from, "x");
  EXPECT_EQ(producer_of(q.model, "y")->op_type(), "DequantizeLinear");
}

TEST(Rules, GemmAndConvTransposeAxes) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,4] x, float[1,4,3,3] v) => (float[2,6] y, float[2,6] z, float[1,6,3,3] w) {
  y = Gemm <transB = 1> (x, Bt, C)
  z = Gemm (x, Bn, C)
  w = ConvTranspose <group = 2> (v, T, TB)
}
)");
  add_initializer(m, "Bt", random_tensor({6, 4}, 8));
  add_initializer(m, "Bn", random_tensor({4, 6}, 9));
  add_initializer(m, "C", random_tensor({6}, 10));
  add_initializer(m, "T", random_tensor({4, 3, 1, 1}, 11));  // [C_in, M/group, kh, kw]
  add_initializer(m, "TB", random_tensor({6}, 12));
  Quantized q = quantize(m);
  EXPECT_EQ(q.plan.tensors.at("Bt").axis, 0);
  EXPECT_EQ(q.plan.tensors.at("Bn").axis, 1);
  EXPECT_EQ(q.plan.tensors.at("T").axis, 1);
  // C is read by both Gemms with different weights: the first one quantizes it, the second reads float.
  EXPECT_EQ(q.plan.tensors.at("C").bias_weight, "Bt");
  EXPECT_EQ(producer_of(q.model, "y_QuantizeLinear_Input")->input(2), "C_DequantizeLinear_Output");
  EXPECT_EQ(producer_of(q.model, "z_QuantizeLinear_Input")->input(2), "C");
  // ConvTranspose, group 2: bias channel o uses weight channel o mod 3.
  const float sx = initializer_value(q.model, "v_scale").data<float>()[0];
  Tensor ts = initializer_value(q.model, "T_scale"), tbs = initializer_value(q.model, "TB_scale");
  ASSERT_EQ(ts.numel(), 3);
  ASSERT_EQ(tbs.numel(), 6);
  for (int o = 0; o < 6; ++o) EXPECT_NEAR(tbs.data<float>()[o], sx * ts.data<float>()[o % 3], 1e-9f) << o;
}

TEST(Rules, ConstantNodeWeightsAreQuantizedAndTheConstantDropped) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
paddle (float[1,2,4,4] x) => (float[1,3,4,4] y) {
  W = Constant <value = float[3,2,1,1] {1.2, -2, 3, -4, 5, -6}> ()
  y = Conv (x, W)
}
)");
  Quantized q = quantize(m);
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts.count("Constant"), 0u);
  Tensor wq = initializer_value(q.model, "W_quantized");
  // Per channel, symmetric int8: channel c = [a, b] with max |.| → 127.
  EXPECT_EQ(wq.to_vector<int8_t>(), (std::vector<int8_t>{76, -127, 95, -127, 106, -127}));
}

TEST(Rules, WeightSharedByTwoConvsIsQuantizedOnce) {
  onnx::ModelProto m = shared_weight_model("conv2");
  Quantized q = quantize(m);
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts["DequantizeLinear"], 4);  // W once, x, a, y
  EXPECT_EQ(find_node(q.model, "conv1")->input(1), "W_DequantizeLinear_Output");
  EXPECT_EQ(find_node(q.model, "conv2")->input(1), "W_DequantizeLinear_Output");
  EXPECT_EQ(q.plan.tensors.at("W").readers.size(), 2u);
}

TEST(Rules, ExcludedNodeReadsTheFloatWeight) {
  onnx::ModelProto m = shared_weight_model("head_conv2");
  QuantOptions o;
  o.exclude = {"head_*"};
  Quantized q = quantize(m, o);
  EXPECT_EQ(find_node(q.model, "head_conv2")->input(1), "W");
  EXPECT_NE(find_initializer(q.model, "W"), nullptr);  // still read
  EXPECT_NE(find_initializer(q.model, "W_quantized"), nullptr);
  EXPECT_EQ(q.plan.nodes[1].reason, "excluded by --exclude head_*");
  EXPECT_EQ(q.plan.quantized_node_count(), 1u);
  EXPECT_EQ(q.plan.float_node_count(), 1u);
}

TEST(Rules, OpTypeFilterLeavesOtherOpsFloat) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
filt (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  a = Conv (x, W)
  y = Add (a, x)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 14));
  QuantOptions o;
  o.op_types = {"Add"};
  Quantized q = quantize(m, o);
  EXPECT_FALSE(q.plan.nodes[0].quantized);
  EXPECT_TRUE(q.plan.nodes[1].quantized);
  EXPECT_EQ(q.plan.tensors.count("W"), 0u);
  EXPECT_NE(find_initializer(q.model, "W"), nullptr);
}

TEST(Rules, AddGivesEachInputItsOwnScaleAndConstantsTheActivationType) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
adds (float[1,4] x, float[1,4] z) => (float[1,4] y) {
  a = Add (x, z)
  y = Mul (a, K)
}
)");
  add_initializer(m, "K", Tensor::from_vector<float>({0.5f, 1.2f, 1.5f, 2.0f}, {1, 4}));
  Quantized q = quantize(m, {}, {{"x", {-1, 1}}, {"z", {-4, 4}}});
  EXPECT_EQ(inputs_of(producer_of(q.model, "a")),
            (std::vector<std::string>{"x_DequantizeLinear_Output", "z_DequantizeLinear_Output"}));
  EXPECT_NE(initializer_value(q.model, "x_scale").data<float>()[0], initializer_value(q.model, "z_scale").data<float>()[0]);
  Tensor kq = initializer_value(q.model, "K_quantized");
  EXPECT_EQ(kq.dtype(), DType::UInt8);  // same type as the other Mul operand, so QLinearMul applies
  EXPECT_EQ(kq.to_vector<uint8_t>(), (std::vector<uint8_t>{64, 153, 191, 255}));  // [0, 2] over 255 codes
  EXPECT_TRUE(q.plan.tensors.at("K").constant);
}

TEST(Rules, WhereQuantizesOnlyItsFloatInputs) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
wh (bool[4] c, float[4] a, float[4] b) => (float[4] y) {
  y = Where (c, a, b)
}
)");
  Quantized q = quantize(m);
  EXPECT_EQ(q.plan.tensors.count("c"), 0u);
  EXPECT_EQ(op_counts(q.model)["QuantizeLinear"], 3);  // a, b, y
}

TEST(Rules, PadWithNonZeroValueGetsItsOwnParameters) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
pads (float[1,2,4,4] x) => (float[1,3,6,6] y, float[1,3,6,6] z) {
  c = Conv (x, W)
  y = Pad (c, pads)
  z = Pad (c, pads, one)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 15));
  add_initializer(m, "pads", Tensor::from_vector<int64_t>({0, 0, 1, 1, 0, 0, 1, 1}, {8}));
  add_initializer(m, "one", Tensor::scalar<float>(1.0f));
  Quantized q = quantize(m);
  EXPECT_EQ(q.plan.tensors.at("y").params_from, "c");
  EXPECT_EQ(q.plan.tensors.at("z").params_from, "");
}

// The branches read t from the enclosing graph: it keeps its float name there, and each branch
// quantizes it with the enclosing graph's parameters (subgraph_test.cpp covers bodies in depth).
TEST(Rules, BodiesKeepReadingOuterValuesThroughTheirOwnQdq) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
branchy (bool b, float[1,2,4,4] x) => (float[1,2,4,4] z) {
  t = Conv (x, W)
  z = If (b) <then_branch = g1 () => (float[1,2,4,4] o1) { o1 = Relu (t) },
              else_branch = g2 () => (float[1,2,4,4] o2) { o2 = Neg (t) }>
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 16));
  Quantized q = quantize(m);
  EXPECT_EQ(op_counts(q.model)["If"], 1);
  EXPECT_EQ(producer_of(q.model, "t")->op_type(), "Conv");  // the float t still exists for the branches
  EXPECT_EQ(q.plan.tensors.count("t"), 1u);
  ASSERT_EQ(q.plan.subgraphs.size(), 2u);
  for (const auto& sp : q.plan.subgraphs) {
    if (sp.attr == "then_branch") EXPECT_EQ(sp.plan->tensors.at("t").table_key(), "t");  // Relu: own Q/DQ of t
    else EXPECT_EQ(sp.plan->tensors.count("t"), 0u);  // Neg has no rule
  }
}

TEST(Rules, DedicatedPairsGiveEveryReaderItsOwnQdq) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
fan (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  c = Conv (x, W)
  a = Conv (c, W)
  y = Add (a, c)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 17));
  name_nodes(m, {"conv1", "conv2", "add"});
  QuantOptions o;
  o.dedicated_qdq_pairs = true;
  Quantized q = quantize(m, o);
  EXPECT_EQ(find_node(q.model, "conv2")->input(0), "c_DequantizeLinear_Output_1");
  EXPECT_EQ(find_node(q.model, "add")->input(1), "c_DequantizeLinear_Output_2");
  EXPECT_EQ(inputs_of(find_node(q.model, "c_QuantizeLinear_2")), (std::vector<std::string>{"c", "c_scale", "c_zero_point"}));
  EXPECT_EQ(find_node(q.model, "c_QuantizeLinear"), nullptr);
  EXPECT_EQ(op_counts(q.model)["QuantizeLinear"], 5);  // x, c ×2, a, y
}

TEST(Rules, FoldedClipBoundsAreDropped) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
relu6 (float[1,2,4,4] x) => (float[1,3,4,4] y) {
  c = Conv (x, W)
  y = Clip (c, lo, hi)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 18));
  add_initializer(m, "lo", Tensor::scalar<float>(0.0f));
  add_initializer(m, "hi", Tensor::scalar<float>(6.0f));
  Quantized q = quantize(m);
  EXPECT_EQ(find_initializer(q.model, "lo"), nullptr);
  EXPECT_EQ(find_initializer(q.model, "hi"), nullptr);
}

TEST(Rules, SigmoidAndHardSigmoidOutputsHaveTheFixedRangeZeroToOne) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
gates (float[2,5] x) => (float[2,5] y, float[2,5] z) {
  y = Sigmoid(x)
  z = HardSigmoid(x)
}
)");
  rewrite::QuantPlan plan = rewrite::plan_quantization(build_graph(m), QuantOptions{});
  for (const char* t : {"y", "z"}) {
    ASSERT_EQ(plan.tensors.count(t), 1u) << t;
    EXPECT_TRUE(plan.tensors.at(t).fixed) << t;
    EXPECT_EQ(plan.tensors.at(t).range.hi, 1.0f) << t;
  }
  EXPECT_FALSE(plan.tensors.at("x").fixed);
}

TEST(Rules, SoftmaxOutputHasTheFixedRangeZeroToOne) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
probs (float[2,5] x) => (float[2,5] y) {
  h = MatMul(x, W)
  y = Softmax(h)
}
)");
  add_initializer(m, "W", random_tensor({5, 5}, 3));
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, QuantOptions{});
  ASSERT_EQ(plan.tensors.count("y"), 1u);
  EXPECT_TRUE(plan.tensors.at("y").fixed);
  EXPECT_EQ(plan.tensors.at("y").range.lo, 0.0f);
  EXPECT_EQ(plan.tensors.at("y").range.hi, 1.0f);
  EXPECT_FALSE(plan.tensors.at("h").fixed);
  bool found = false;
  for (const auto& t : rewrite::calib_targets(plan))
    if (t.tensor == "y") found = t.fixed && t.fixed_range.hi == 1.0f;
  EXPECT_TRUE(found);
  // The calibrator uses the fixed range whatever the samples say: uint8 scale 1/255, zero point 0.
  calib::CalibOptions co;
  co.progress = false;
  auto dir = fresh_dir();
  write_npy(dir / "x.npy", random_tensor({2, 5}, 4, -0.01f, 0.01f));
  auto data = calib::open_data(dir, g.inputs);
  calib::CalibTable t = calib::calibrate(g, rewrite::calib_targets(plan), *data, co);
  EXPECT_EQ(t.tensors.at("y").method, "fixed");
  EXPECT_NEAR(t.tensors.at("y").qparams.scale[0], 1.0f / 255, kScaleTol);
  EXPECT_EQ(t.tensors.at("y").qparams.zero_point[0], 0);
}

// x → c1 → r1 → c2 → r2 → Add(r2, r1) → c3 → Sigmoid → y. Compute layers on the longest path from
// the input: c1 r1 = 1, c2 r2 add = 2, c3 sig = 3; to the output: sig = 0, c3 add r2 = 1, c2 r1 = 2,
// c1 = 3.
TEST(Rules, FloatFirstAndLastFollowTheLongestComputePath) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
edges (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  a = Conv (x, W1)
  r1 = Relu (a)
  b = Conv (r1, W2)
  r2 = Relu (b)
  s = Add (r2, r1)
  c = Conv (s, W3)
  y = Sigmoid (c)
}
)");
  for (const char* w : {"W1", "W2", "W3"}) add_initializer(m, w, random_tensor({2, 2, 1, 1}, 40));
  name_nodes(m, {"c1", "r1", "c2", "r2", "add", "c3", "sig"});
  auto floats = [&](int first, int last) {
    QuantOptions o;
    o.float_first = first;
    o.float_last = last;
    Quantized q = quantize(m, o);
    std::string names;
    for (size_t i = 0; i < q.plan.nodes.size(); ++i)
      if (q.plan.nodes[i].reason.rfind("excluded by --float-", 0) == 0) names += (names.empty() ? "" : " ") + q.graph.nodes[i].name;
    return names;
  };
  EXPECT_EQ(floats(1, 0), "c1 r1");
  EXPECT_EQ(floats(2, 0), "c1 r1 c2 r2 add");
  EXPECT_EQ(floats(0, 1), "r2 add c3 sig");
  EXPECT_EQ(floats(0, 2), "r1 c2 r2 add c3 sig");
  EXPECT_EQ(floats(1, 1), "c1 r1 r2 add c3 sig");

  // The layer after a float stem reads a Q/DQ'd input; the layer before a float head quantizes its output.
  QuantOptions o;
  o.float_first = 1;
  o.float_last = 1;
  Quantized q = quantize(m, o);
  EXPECT_TRUE(q.plan.nodes[2].quantized);
  EXPECT_EQ(producer_of(q.model, inputs_of(find_node(q.model, "c2"))[0])->op_type(), "DequantizeLinear");
  EXPECT_EQ(inputs_of(find_node(q.model, "c1"))[0], "x");
  EXPECT_EQ(inputs_of(find_node(q.model, "c3"))[1], "W3");  // float weight

  QuantOptions all;
  all.float_first = 3;
  try {
    quantize(m, all);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("--float-first/--float-last leave every quantizable node (7) float"), std::string::npos) << e.what();
  }
}
