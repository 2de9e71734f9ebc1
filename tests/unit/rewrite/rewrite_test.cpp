// SPDX-License-Identifier: Apache-2.0
// Rewrite tests: Q/DQ domain and opset per type and opset, opset upgrades, dynamic mode (QDQ and
// integer formats), bias overflow handling, table checks, determinism, and bad input.
#include <cmath>

#include "ptq/ir/onnx_io.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

// x → Conv(W, B) → Relu → GlobalAveragePool → Flatten → Gemm(G, C) → y; opset as given.
onnx::ModelProto small_net(int opset, int ir = 8) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,6,6] x) => (float[1,4] y) {
  c = Conv <pads = [1, 1, 1, 1]> (x, W, B)
  r = Relu (c)
  p = GlobalAveragePool (r)
  f = Flatten (p)
  y = Gemm <transB = 1> (f, G, C)
}
)");
  m.mutable_opset_import(0)->set_version(opset);
  m.set_ir_version(ir);
  add_initializer(m, "W", random_tensor({3, 2, 3, 3}, 21));
  add_initializer(m, "B", random_tensor({3}, 22));
  add_initializer(m, "G", random_tensor({4, 3}, 23));
  add_initializer(m, "C", random_tensor({4}, 24));
  return m;
}

std::string domain_of(const onnx::ModelProto& m, const std::string& op) {
  for (const auto& n : m.graph().node())
    if (n.op_type() == op) return n.domain();
  ADD_FAILURE() << "no " << op << " node";
  return "?";
}

int64_t opset_of(const onnx::ModelProto& m, const std::string& domain) {
  for (const auto& op : m.opset_import())
    if (op.domain() == domain) return op.version();
  return 0;
}

}  // namespace

TEST(RewriteFormat, EightBitAtOpset13UsesOnnxDomain) {
  Quantized q = quantize(small_net(13));
  EXPECT_EQ(domain_of(q.model, "QuantizeLinear"), "");
  EXPECT_EQ(opset_of(q.model, "com.microsoft"), 0);
  EXPECT_EQ(opset_of(q.model, ""), 13);
}

TEST(RewriteFormat, PerChannelBelowOpset13UsesMicrosoftDomain) {
  Quantized q = quantize(small_net(11));
  EXPECT_EQ(domain_of(q.model, "DequantizeLinear"), "com.microsoft");
  EXPECT_EQ(opset_of(q.model, "com.microsoft"), 1);
  EXPECT_EQ(opset_of(q.model, ""), 11);
  QuantOptions per_tensor;
  per_tensor.per_channel = false;
  Quantized t = quantize(small_net(11), per_tensor);
  EXPECT_EQ(domain_of(t.model, "DequantizeLinear"), "");
}

TEST(RewriteFormat, SixteenBitBelowOpset21UsesMicrosoftDomain) {
  for (QType act : {QType::UInt16, QType::Int16}) {
    QuantOptions o;
    o.activation_type = act;
    Quantized q = quantize(small_net(13), o);
    EXPECT_EQ(domain_of(q.model, "QuantizeLinear"), "com.microsoft");
    EXPECT_EQ(initializer_value(q.model, "x_zero_point").dtype(), qtype_dtype(act));
    EXPECT_EQ(opset_of(q.model, ""), 13);
  }
  QuantOptions w16;
  w16.weight_type = QType::Int16;
  Quantized q = quantize(small_net(13), w16);
  EXPECT_EQ(domain_of(q.model, "DequantizeLinear"), "com.microsoft");
  EXPECT_EQ(initializer_value(q.model, "W_quantized").dtype(), DType::Int16);
}

TEST(RewriteFormat, Opset21OptionUpgradesAndUsesOnnxDomain) {
  QuantOptions o;
  o.activation_type = QType::Int16;
  o.weight_type = QType::Int16;
  o.opset = 21;
  Quantized q = quantize(small_net(13), o);
  EXPECT_EQ(domain_of(q.model, "QuantizeLinear"), "");
  EXPECT_EQ(opset_of(q.model, ""), 21);
  EXPECT_EQ(opset_of(q.model, "com.microsoft"), 0);
  EXPECT_GE(q.model.ir_version(), 10);
}

TEST(RewriteFormat, ModelsBelowOpset10AreRaisedTo11WithConvertedNodes) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 4, opset_import: ["" : 9]>
old (float[1,2,4,4] x) => (float[1,3,2,4] y) {
  c = Conv (x, W)
  k = Clip <min = 0.0, max = 6.0> (c)
  y = Slice <starts = [0], ends = [2], axes = [2]> (k)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 1, 1}, 25));
  Quantized q = quantize(m);
  EXPECT_EQ(opset_of(q.model, ""), 11);
  EXPECT_GE(q.model.ir_version(), 6);
  EXPECT_EQ(domain_of(q.model, "QuantizeLinear"), "com.microsoft");  // per-channel below 13
  const onnx::NodeProto* slice = nullptr;
  for (const auto& n : q.model.graph().node())
    if (n.op_type() == "Slice") slice = &n;
  ASSERT_NE(slice, nullptr);
  ASSERT_EQ(slice->input_size(), 4);
  EXPECT_EQ(slice->attribute_size(), 0);
  EXPECT_EQ(initializer_value(q.model, slice->input(1)).to_vector<int64_t>(), std::vector<int64_t>{0});
  EXPECT_EQ(initializer_value(q.model, slice->input(3)).to_vector<int64_t>(), std::vector<int64_t>{2});
}

TEST(RewriteFormat, UpgradeRefusesOpsWhoseMeaningChanged) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 4, opset_import: ["" : 9]>
old (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  c = Conv (x, W)
  y = Scatter <axis = 1> (c, idx, upd)
}
)");
  add_initializer(m, "W", random_tensor({2, 2, 1, 1}, 26));
  add_initializer(m, "idx", Tensor::from_vector<int64_t>(std::vector<int64_t>(16, 0), {1, 1, 4, 4}));
  add_initializer(m, "upd", random_tensor({1, 1, 4, 4}, 27));
  m.mutable_graph()->mutable_node(1)->set_name("sc1");
  std::string err = error_of([&] { quantize(m); });
  EXPECT_NE(err.find("cannot raise the opset from 9 to 11: node 'sc1' (Scatter)"), std::string::npos) << err;
}

TEST(RewriteDynamic, QdqFormatQuantizesOnlyWeights) {
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  Quantized q = quantize(small_net(13), o);
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts.count("QuantizeLinear"), 0u);
  EXPECT_EQ(counts["DequantizeLinear"], 2);  // W and G; biases stay float
  EXPECT_EQ(counts["Relu"], 1);
  EXPECT_NE(find_initializer(q.model, "B"), nullptr);
  for (const auto& t : rewrite::calib_targets(q.plan)) EXPECT_TRUE(t.is_weight) << t.tensor;
  // Weight bytes: int8 = 1/4 of float32, int16 = 1/2.
  EXPECT_EQ(find_initializer(q.model, "W_quantized")->raw_data().size() * 4,
            find_initializer(small_net(13), "W")->raw_data().size());
  o.weight_type = QType::Int16;
  Quantized q16 = quantize(small_net(13), o);
  EXPECT_EQ(find_initializer(q16.model, "W_quantized")->raw_data().size() * 2,
            find_initializer(small_net(13), "W")->raw_data().size());
}

TEST(RewriteDynamic, GatherEmbeddingIsQuantizedPerTensor) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
emb (int64[2,3] ids) => (float[2,3,8] y) {
  y = Gather (E, ids)
}
)");
  add_initializer(m, "E", random_tensor({10, 8}, 27));
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  Quantized q = quantize(m, o);
  EXPECT_EQ(q.plan.tensors.at("E").axis, -1);
  EXPECT_EQ(producer_of(q.model, "y")->input(0), "E_DequantizeLinear_Output");
}

TEST(RewriteDynamic, IntegerFormatEmitsOnnxRuntimeOps) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
integer (float[1,2,6,6] x, float[3,5] a) => (float[1,3,6,6] y, float[3,4] z) {
  y = Conv <pads = [1, 1, 1, 1]> (x, W, B)
  z = MatMul (a, M)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 3, 3}, 28));
  add_initializer(m, "B", random_tensor({3}, 29));
  add_initializer(m, "M", random_tensor({5, 4}, 30));
  m.mutable_graph()->mutable_node(0)->set_name("conv1");
  m.mutable_graph()->mutable_node(1)->set_name("mm1");
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  o.dynamic_format = rewrite::DynamicFormat::Integer;
  Quantized q = quantize(m, o);
  auto counts = op_counts(q.model);
  EXPECT_EQ(counts["DynamicQuantizeLinear"], 2);
  EXPECT_EQ(counts["ConvInteger"], 1);
  EXPECT_EQ(counts["MatMulInteger"], 1);
  EXPECT_EQ(counts["Cast"], 2);
  EXPECT_EQ(counts["Mul"], 4);
  EXPECT_EQ(counts["Add"], 1);
  EXPECT_EQ(counts.count("Conv"), 0u);
  const onnx::NodeProto* ci = find_node(q.model, "conv1_quant");
  ASSERT_NE(ci, nullptr);
  EXPECT_EQ(std::vector<std::string>(ci->input().begin(), ci->input().end()),
            (std::vector<std::string>{"x_quantized", "W_quantized", "x_zero_point", "W_zero_point"}));
  EXPECT_EQ(attr_int(*ci, "group", -1), -1);  // Conv's attributes are copied (pads present, no group)
  EXPECT_EQ(ci->attribute_size(), 1);
  EXPECT_EQ(initializer_value(q.model, "W_zero_point").shape(), Shape{});  // ConvInteger: per-tensor zero point
  EXPECT_EQ(initializer_value(q.model, "W_scale").shape(), (Shape{3, 1, 1}));
  EXPECT_EQ(initializer_value(q.model, "M_zero_point").shape(), Shape{4});
  EXPECT_EQ(producer_of(q.model, "y")->op_type(), "Add");
  EXPECT_EQ(producer_of(q.model, "z")->name(), "mm1_quant_output_scale_mul");
  EXPECT_NE(find_node(q.model, "mm1_quant_scales_mul"), nullptr);
  EXPECT_EQ(opset_of(q.model, ""), 13);
}

// A Conv whose channel-0 bias (1e4) overflows int32 at s_x·s_w with tiny weights and inputs; channel 1's
// bias is b1.
onnx::ModelProto big_bias_conv(float b1) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
big (float[1,2,4,4] x) => (float[1,2,4,4] y) {
  y = Conv (x, W, B)
}
)");
  add_initializer(m, "W", Tensor::from_vector<float>({1e-3f, -1e-3f, 0.5f, 0.25f}, {2, 2, 1, 1}));
  add_initializer(m, "B", Tensor::from_vector<float>({1e4f, b1}, {2}));
  return m;
}

TEST(RewriteBias, OverflowEnlargesTheWeightScale) {
  onnx::ModelProto m = big_bias_conv(1.0f);
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  calib::CalibTable table = make_table(g, plan, {{"x", {-1e-3f, 1e-3f}}});
  testing::internal::CaptureStderr();
  onnx::ModelProto out = rewrite::rewrite_model(m, g, plan, table);
  rewrite::rewrite_model(m, g, plan, table);  // a search's next attempt: the same warning is not repeated
  const std::string err = testing::internal::GetCapturedStderr();
  const std::string warning = "bias 'B' would overflow int32";
  EXPECT_NE(err.find(warning), std::string::npos) << err;
  EXPECT_EQ(err.find(warning), err.rfind(warning)) << err;
  const float sx = table.tensors.at("x").qparams.scale[0];
  const float sw0 = table.tensors.at("W").qparams.scale[0];
  ASSERT_GT(1e4 / (double(sx) * sw0), 2147483647.0);  // the premise: the plain bias would overflow
  Tensor ws = initializer_value(out, "W_scale");
  Tensor bs = initializer_value(out, "B_scale");
  Tensor bq = initializer_value(out, "B_quantized");
  EXPECT_GT(ws.data<float>()[0], sw0);                                    // channel 0 enlarged
  EXPECT_EQ(ws.data<float>()[1], table.tensors.at("W").qparams.scale[1]);  // channel 1 untouched
  EXPECT_LT(bq.data<int32_t>()[0], 2147483647);
  EXPECT_NEAR(bq.data<int32_t>()[0] * double(bs.data<float>()[0]), 1e4, 1e4 * 1e-4);
  EXPECT_NEAR(bs.data<float>()[0], sx * ws.data<float>()[0], 1e-12);
}

TEST(RewriteBias, SixteenBitLayersWidenTheBiasScaleNotTheWeights) {
  // int16 weights and uint16 activations: s_x·s_w is ~2^-16 of the 8-bit one, so the 8-bit rule would
  // make the weight scale 10^4x coarser; instead the bias gets the scale 1.0001·|b|/(2^31 - 1).
  onnx::ModelProto m = big_bias_conv(1e-4f);
  rewrite::QuantOptions o;
  o.activation_type = QType::UInt16;
  o.weight_type = QType::Int16;
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, o);
  calib::CalibTable table = make_table(g, plan, {{"x", {-1e-3f, 1e-3f}}});
  onnx::ModelProto out = rewrite::rewrite_model(m, g, plan, table);
  const float sx = table.tensors.at("x").qparams.scale[0];
  const Tensor ws = initializer_value(out, "W_scale"), bs = initializer_value(out, "B_scale"), bq = initializer_value(out, "B_quantized");
  EXPECT_EQ(ws.data<float>()[0], table.tensors.at("W").qparams.scale[0]);  // the weights keep their grid
  EXPECT_NEAR(bs.data<float>()[0], 1.0001 * 1e4 / 2147483647.0, 1e-12);
  EXPECT_NEAR(bq.data<int32_t>()[0] * double(bs.data<float>()[0]), 1e4, 1e4 * 1e-6);
  EXPECT_FLOAT_EQ(bs.data<float>()[1], sx * ws.data<float>()[1]);  // a bias that fits keeps s_x·s_w
}

TEST(RewriteTable, MissingOrMismatchedEntriesAreReported) {
  onnx::ModelProto m = small_net(13);
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  calib::CalibTable table = make_table(g, plan);
  calib::CalibTable missing = table;
  missing.tensors.erase("x");
  EXPECT_NE(error_of([&] { rewrite::rewrite_model(m, g, plan, missing); }).find("no entry for activation 'x'"),
            std::string::npos);
  calib::CalibTable wrong = table;
  wrong.tensors["x"].qparams.type = QType::Int8;
  std::string err = error_of([&] { rewrite::rewrite_model(m, g, plan, wrong); });
  EXPECT_NE(err.find("activation 'x': the table holds int8 parameters, the options ask for uint8"), std::string::npos) << err;
  EXPECT_THROW(rewrite::rewrite_model(m, g, plan, missing), DataError);
}

TEST(RewriteDeterminism, SameInputsGiveIdenticalBytes) {
  for (bool dynamic : {false, true}) {
    QuantOptions o;
    if (dynamic) o.mode = rewrite::QuantMode::Dynamic;
    std::string a = serialize(quantize(small_net(13), o).model);
    std::string b = serialize(quantize(small_net(13), o).model);
    EXPECT_EQ(a, b);
    EXPECT_GT(a.size(), 0u);
  }
}

TEST(RewriteErrors, NothingSelectedIsAClearError) {
  onnx::ModelProto m = small_net(13);
  Graph g = build_graph(m);
  QuantOptions all_excluded;
  all_excluded.exclude = {"*"};
  std::string err = error_of([&] { rewrite::plan_quantization(g, all_excluded); });
  EXPECT_NE(err.find("--exclude matches every quantizable node"), std::string::npos) << err;
  EXPECT_THROW(rewrite::plan_quantization(g, all_excluded), UsageError);

  QuantOptions absent;
  absent.op_types = {"MatMul"};
  err = error_of([&] { rewrite::plan_quantization(g, absent); });
  EXPECT_NE(err.find("--op-types: no node of the model is a MatMul"), std::string::npos) << err;

  QuantOptions unknown;
  unknown.op_types = {"Conx"};
  err = error_of([&] { rewrite::plan_quantization(g, unknown); });
  EXPECT_NE(err.find("'Conx' is not a quantizable op type"), std::string::npos) << err;

  QuantOptions typo;
  typo.exclude = {"conv_9"};
  EXPECT_THROW(rewrite::plan_quantization(g, typo), UsageError);
}

TEST(RewriteErrors, ModelsWithNothingToQuantize) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
plain (float[4] x) => (float[4] y) {
  y = Exp (x)
}
)");
  Graph g = build_graph(m);
  std::string err = error_of([&] { rewrite::plan_quantization(g, {}); });
  EXPECT_NE(err.find("nothing to quantize"), std::string::npos) << err;
  EXPECT_THROW(rewrite::plan_quantization(g, {}), UnsupportedError);

  QuantOptions dyn;
  dyn.mode = rewrite::QuantMode::Dynamic;
  Graph relu_only = build_graph(parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
acts (float[4] x) => (float[4] y) {
  y = Relu (x)
}
)"));
  EXPECT_THROW(rewrite::plan_quantization(relu_only, dyn), UnsupportedError);
}

// A Q/DQ model is taken as a QAT export: its own quantization is kept, and a model ptq quantized has
// nothing left to plan (the CLI then refuses it as already quantized: tests/interop/qat_interop_test.cpp).
TEST(RewriteErrors, AlreadyQuantizedModelPlansNothingMore) {
  onnx::ModelProto m = small_net(13);
  Graph g = build_graph(m);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  onnx::ModelProto q = rewrite::rewrite_model(m, g, plan, make_table(g, plan));
  Graph gq = build_graph(q);
  EXPECT_EQ(rewrite::plan_quantization(gq, {}).quantized_node_count(), 0u);
}

TEST(RewriteErrors, BadOptionCombinations) {
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  o.dynamic_format = rewrite::DynamicFormat::Integer;
  o.weight_type = QType::Int16;
  EXPECT_THROW(rewrite::validate_options(o), UsageError);
  QuantOptions bad_opset;
  bad_opset.opset = 17;
  EXPECT_THROW(rewrite::validate_options(bad_opset), UsageError);
  QuantOptions w16u;
  w16u.weight_type = QType::UInt16;
  EXPECT_THROW(rewrite::validate_options(w16u), UsageError);
  EXPECT_THROW(rewrite::quant_mode_from_name("semi"), UsageError);
  EXPECT_THROW(rewrite::dynamic_format_from_name("qoperator"), UsageError);
}
