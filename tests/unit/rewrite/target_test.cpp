// SPDX-License-Identifier: Apache-2.0
// Deployment targets (rewrite/target.h): the rules of each table row on hand-built Q/DQ models that
// break them (together every rule name) (expected (node, rule) pairs written out per target), the defaults and refusals of
// apply_target, every target's own output passing its check, and the shared-int8 → uint8 rewrite
// (same values, zero point + 128).
#include <set>

#include "ptq/rewrite/target.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

template <class T>
Tensor values(DType type, Shape shape, std::vector<T> v) {
  Tensor t(type, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) t.data<T>()[i] = v[i];
  return t;
}

// x ─Q/DQ(uint8, zp 128)→ Conv(W int8 per-channel axis 0, zp 0; B int32 DQ) ─Q/DQ(int8, zp 5)→ yd,
// read by Relu and Sigmoid (an int8 Q whose DQ has two readers).
onnx::ModelProto conv_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,4,4] x) => (float[1,3,4,4] r, float[1,3,4,4] s) {
  xq = QuantizeLinear (x, xs, xz)
  xd = DequantizeLinear (xq, xs, xz)
  wd = DequantizeLinear <axis = 0> (Wq, ws, wz)
  bd = DequantizeLinear (Bq, bs)
  y = Conv (xd, wd, bd)
  yq = QuantizeLinear (y, ys, yz)
  yd = DequantizeLinear (yq, ys, yz)
  r = Relu (yd)
  s = Sigmoid (yd)
}
)");
  const char* names[] = {"x_q", "x_dq", "w_dq", "b_dq", "conv", "y_q", "y_dq", "relu", "sigmoid"};
  for (int i = 0; i < m.graph().node_size(); ++i) m.mutable_graph()->mutable_node(i)->set_name(names[i]);
  add_initializer(m, "xs", Tensor::scalar<float>(0.01f));
  add_initializer(m, "xz", Tensor::scalar<uint8_t>(128));
  add_initializer(m, "Wq", values<int8_t>(DType::Int8, {3, 2, 1, 1}, {1, -2, 3, -4, 5, -6}));
  add_initializer(m, "ws", values<float>(DType::Float32, {3}, {0.1f, 0.2f, 0.3f}));
  add_initializer(m, "wz", values<int8_t>(DType::Int8, {3}, {0, 0, 0}));
  add_initializer(m, "Bq", values<int32_t>(DType::Int32, {3}, {10, 20, 30}));
  add_initializer(m, "bs", values<float>(DType::Float32, {3}, {0.001f, 0.002f, 0.003f}));
  add_initializer(m, "ys", Tensor::scalar<float>(0.05f));
  add_initializer(m, "yz", Tensor::scalar<int8_t>(5));
  return m;
}

// Opset 11, com.microsoft Q/DQ: a per-axis uint8 activation into MatMul with a per-channel (axis 1) weight.
onnx::ModelProto matmul_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 7, opset_import: ["" : 11, "com.microsoft" : 1]>
net (float[2,3] x) => (float[2,4] y) {
  xq = com.microsoft.QuantizeLinear <axis = 1> (x, xs, xz)
  xd = com.microsoft.DequantizeLinear <axis = 1> (xq, xs, xz)
  wd = com.microsoft.DequantizeLinear <axis = 1> (Wq, ws, wz)
  y = MatMul (xd, wd)
}
)");
  const char* names[] = {"x_q", "x_dq", "w_dq", "matmul"};
  for (int i = 0; i < m.graph().node_size(); ++i) m.mutable_graph()->mutable_node(i)->set_name(names[i]);
  add_initializer(m, "xs", values<float>(DType::Float32, {3}, {0.01f, 0.02f, 0.03f}));
  add_initializer(m, "xz", values<uint8_t>(DType::UInt8, {3}, {0, 0, 0}));
  add_initializer(m, "Wq", values<int8_t>(DType::Int8, {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  add_initializer(m, "ws", values<float>(DType::Float32, {4}, {0.1f, 0.1f, 0.1f, 0.1f}));
  add_initializer(m, "wz", values<int8_t>(DType::Int8, {4}, {0, 0, 0, 0}));
  return m;
}

// x ─Q/DQ(uint8, zp 0)→ Add(an int8 constant through a lone DQ) → Conv(W uint8 per-tensor, zp 128).
onnx::ModelProto constant_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,4,4] x) => (float[1,3,4,4] y) {
  xq = QuantizeLinear (x, xs, xz)
  xd = DequantizeLinear (xq, xs, xz)
  cd = DequantizeLinear (Cq, cs, cz)
  a = Add (xd, cd)
  wd = DequantizeLinear (Wq, ws, wz)
  y = Conv (a, wd)
}
)");
  const char* names[] = {"x_q", "x_dq", "c_dq", "add", "w_dq", "conv"};
  for (int i = 0; i < m.graph().node_size(); ++i) m.mutable_graph()->mutable_node(i)->set_name(names[i]);
  add_initializer(m, "xs", Tensor::scalar<float>(0.01f));
  add_initializer(m, "xz", Tensor::scalar<uint8_t>(0));
  add_initializer(m, "Cq", values<int8_t>(DType::Int8, {1, 2, 1, 1}, {3, -3}));
  add_initializer(m, "cs", Tensor::scalar<float>(0.1f));
  add_initializer(m, "cz", Tensor::scalar<int8_t>(0));
  add_initializer(m, "Wq", values<uint8_t>(DType::UInt8, {3, 2, 1, 1}, {100, 120, 140, 160, 180, 200}));
  add_initializer(m, "ws", Tensor::scalar<float>(0.01f));
  add_initializer(m, "wz", Tensor::scalar<uint8_t>(128));
  return m;
}

std::set<std::string> broken(const onnx::ModelProto& m, const std::string& target) {
  std::set<std::string> out;
  for (const auto& v : rewrite::check_target(m, rewrite::find_target(target))) {
    EXPECT_FALSE(v.what.empty());
    out.insert((v.node.empty() ? "(model)" : v.node) + "/" + v.rule);
  }
  return out;
}

struct RuleCase {
  const char* target;
  std::set<std::string> conv;      // expected on conv_model()
  std::set<std::string> matmul;    // expected on matmul_model()
  std::set<std::string> constant;  // expected on constant_model()
};

// One row per target, worked out from the rules in target.h and the two models above.
const std::vector<RuleCase> kRuleCases = {
    {"ort-cpu", {"y_q/shared-int8-q"}, {"x_q/per-axis-activation", "x_dq/per-axis-activation"},
     {"c_dq/int8-constant"}},
    {"ort-cpu-novnni", {"y_q/shared-int8-q", "w_dq/weight-type"},
     {"x_q/per-axis-activation", "x_dq/per-axis-activation", "w_dq/weight-type"}, {"c_dq/int8-constant"}},
    {"tensorrt",
     {"x_q/activation-type", "x_dq/activation-type", "x_q/zero-point", "x_dq/zero-point", "y_q/zero-point", "y_dq/zero-point",
      "b_dq/bias-int32"},
     {"(model)/opset", "x_q/opset", "x_dq/opset", "w_dq/opset", "x_q/activation-type", "x_dq/activation-type",
      "x_q/per-axis-activation", "x_dq/per-axis-activation", "matmul/per-channel-op"},
     {"x_q/activation-type", "x_dq/activation-type", "w_dq/weight-type"}},
    {"qnn", {"y_q/activation-type", "y_dq/activation-type"},
     {"x_q/per-axis-activation", "x_dq/per-axis-activation", "matmul/per-channel-op"},
     {"c_dq/activation-type"}},
    {"xnnpack", {"x_q/activation-type", "x_dq/activation-type", "conv/mixed-sign"},
     {"x_q/activation-type", "x_dq/activation-type", "x_q/per-axis-activation", "x_dq/per-axis-activation",
      "matmul/per-channel-op", "matmul/mixed-sign"},
     {"x_q/activation-type", "x_dq/activation-type", "w_dq/weight-type"}},
    {"nnapi", {"y_q/activation-type", "y_dq/activation-type"},
     {"x_q/per-axis-activation", "x_dq/per-axis-activation", "matmul/per-channel-op"},
     {"c_dq/activation-type"}},
    {"openvino", {}, {"(model)/opset", "x_q/opset", "x_dq/opset", "w_dq/opset", "x_q/per-axis-activation", "x_dq/per-axis-activation"},
     {}},
};

// x → Conv+bias → Relu ─┬→ Conv+bias ─→ Add → Sigmoid → GlobalAveragePool → Flatten → Gemm → y
//                       └──────────────↗  (a tensor read by two nodes)
onnx::ModelProto float_net() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,6,6] x) => (float[1,4] y) {
  c = Conv <pads = [1, 1, 1, 1]> (x, W, B)
  r = Relu (c)
  d = Conv <pads = [1, 1, 1, 1]> (r, W2, B2)
  a = Add (d, r)
  s = Sigmoid (a)
  p = GlobalAveragePool (s)
  f = Flatten (p)
  y = Gemm <transB = 1> (f, G, C)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 3, 3}, 31));
  add_initializer(m, "B", random_tensor({3}, 32));
  add_initializer(m, "W2", random_tensor({3, 3, 3, 3}, 33));
  add_initializer(m, "B2", random_tensor({3}, 34));
  add_initializer(m, "G", random_tensor({4, 3}, 35));
  add_initializer(m, "C", random_tensor({4}, 36));
  return m;
}

QuantOptions target_options(const std::string& target, const rewrite::GivenFlags& given = {}, QuantOptions o = {}) {
  rewrite::apply_target(rewrite::find_target(target), given, o);
  return o;
}

}  // namespace

TEST(TargetRules, EachTargetFlagsExactlyTheRulesItsModelsBreak) {
  ASSERT_EQ(kRuleCases.size(), rewrite::target_table().size());
  for (const auto& c : kRuleCases) {
    EXPECT_EQ(broken(conv_model(), c.target), c.conv) << c.target;
    EXPECT_EQ(broken(matmul_model(), c.target), c.matmul) << c.target;
    EXPECT_EQ(broken(constant_model(), c.target), c.constant) << c.target;
  }
}

TEST(TargetRules, IntegerOperatorsOnlyForOnnxRuntimeCpu) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[2,3] x) => (int32[2,4] y) {
  xq, xs, xz = DynamicQuantizeLinear (x)
  y = MatMulInteger (xq, W, xz)
}
)");
  m.mutable_graph()->mutable_node(0)->set_name("dql");
  m.mutable_graph()->mutable_node(1)->set_name("mmi");
  add_initializer(m, "W", values<uint8_t>(DType::UInt8, {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  for (const auto& t : rewrite::target_table()) {
    const bool ort_cpu = std::string(t.name).rfind("ort-cpu", 0) == 0;  // ort-cpu, ort-cpu-novnni
    const std::set<std::string> want =
        ort_cpu ? std::set<std::string>{} : std::set<std::string>{"dql/qdq-only", "mmi/qdq-only"};
    EXPECT_EQ(broken(m, t.name), want) << t.name;
  }
}

TEST(TargetRules, UnknownTargetNamesTheChoices) {
  EXPECT_EQ(error_of([] { rewrite::find_target("tensorrtx"); }),
            "unknown target 'tensorrtx'; expected one of: ort-cpu, ort-cpu-novnni, tensorrt, qnn, xnnpack, nnapi, openvino");
}

TEST(TargetOptions, TensorRtDefaults) {
  QuantOptions o = target_options("tensorrt");
  EXPECT_EQ(o.activation_type, QType::Int8);
  EXPECT_EQ(o.weight_type, QType::Int8);
  EXPECT_TRUE(o.symmetric_activations);
  EXPECT_FALSE(o.quantize_bias);
  EXPECT_TRUE(o.dedicated_qdq_pairs);
  EXPECT_FALSE(o.unsigned_shared_int8);
  EXPECT_EQ(o.opset, 13);
  const std::vector<std::pair<std::string, int>> axes = {{"Conv", 0}, {"ConvTranspose", 1}};
  EXPECT_EQ(o.per_channel_ops, axes);
}

TEST(TargetOptions, ExplicitFlagsOverrideDefaultsOrAreRefusedWhenTheyBreakARule) {
  rewrite::GivenFlags act;
  act.activation_type = true;
  QuantOptions u16;
  u16.activation_type = QType::UInt16;
  EXPECT_EQ(target_options("qnn", act, u16).activation_type, QType::UInt16);
  EXPECT_EQ(target_options("qnn", act, u16).opset, 0);       // com.microsoft 16-bit Q/DQ are fine for QNN
  EXPECT_EQ(target_options("openvino", act, u16).opset, 21);  // ONNX-domain 16-bit Q/DQ
  QuantOptions u8;
  u8.activation_type = QType::UInt8;
  EXPECT_EQ(error_of([&] { target_options("tensorrt", act, u8); }),
            "--activation-type uint8 contradicts --target tensorrt: it takes int8 activations");
  rewrite::GivenFlags opset;
  opset.opset = true;
  QuantOptions o21;
  o21.opset = 21;
  EXPECT_EQ(target_options("tensorrt", opset, o21).opset, 21);
  QuantOptions integer;
  integer.mode = rewrite::QuantMode::Dynamic;
  integer.dynamic_format = rewrite::DynamicFormat::Integer;
  EXPECT_EQ(error_of([&] { target_options("qnn", {}, integer); }),
            "--dynamic-format integer contradicts --target qnn: it takes the Q/DQ form only");
  EXPECT_EQ(target_options("ort-cpu", {}, integer).dynamic_format, rewrite::DynamicFormat::Integer);
  rewrite::GivenFlags pt;
  pt.per_tensor = true;
  QuantOptions per_tensor;
  per_tensor.per_channel = false;
  EXPECT_FALSE(target_options("xnnpack", pt, per_tensor).per_channel);
}

TEST(TargetOptions, EveryTargetsOutputPassesItsOwnCheck) {
  for (const auto& t : rewrite::target_table()) {
    Quantized q = quantize(float_net(), target_options(t.name));
    std::set<std::string> none;
    EXPECT_EQ(broken(q.model, t.name), none) << t.name;
  }
  rewrite::GivenFlags act;
  act.activation_type = true;
  QuantOptions s8;
  s8.activation_type = QType::Int8;
  Quantized q = quantize(float_net(), target_options("ort-cpu", act, s8));
  EXPECT_TRUE(broken(q.model, "ort-cpu").empty());
}

TEST(SharedInt8, TensorsWithSeveralReadersBecomeUint8WithTheSameValues) {
  QuantOptions o;
  o.activation_type = QType::Int8;
  o.unsigned_shared_int8 = false;
  Quantized plain = quantize(float_net(), o);
  EXPECT_EQ(broken(plain.model, "ort-cpu"), (std::set<std::string>{"r_QuantizeLinear/shared-int8-q"}));  // Relu folded into the Conv: r
  o.unsigned_shared_int8 = true;
  Quantized fixed = quantize(float_net(), o);
  auto p0 = rewrite::resolve_params(plain.graph, plain.plan, plain.table);
  auto p1 = rewrite::resolve_params(fixed.graph, fixed.plan, fixed.table);
  ASSERT_EQ(p0.size(), p1.size());
  int retyped = 0;
  for (const auto& [name, a] : p0) {
    const QParams& b = p1.at(name);
    EXPECT_EQ(a.scale, b.scale) << name;
    if (a.type == b.type) {
      EXPECT_EQ(a.zero_point, b.zero_point) << name;
      continue;
    }
    ++retyped;
    EXPECT_EQ(a.type, QType::Int8) << name;
    EXPECT_EQ(b.type, QType::UInt8) << name;
    EXPECT_EQ(b.zero_point.at(0), a.zero_point.at(0) + 128) << name;
  }
  EXPECT_EQ(retyped, 1);  // r (the Relu folded into the first Conv), read by the second Conv and the Add
  EXPECT_EQ(p1.at("r").type, QType::UInt8);
}

TEST(TargetRules, QnnSigmoidOutputHasItsFixedParameters) {
  rewrite::GivenFlags act;
  act.activation_type = true;
  QuantOptions u16;
  u16.activation_type = QType::UInt16;
  const QuantOptions qnn = target_options("qnn", act, u16);
  const Range fixed = rewrite::plan_quantization(build_graph(float_net()), qnn).tensors.at("s").range;
  EXPECT_EQ(fixed.lo, 0.0f);
  EXPECT_EQ(fixed.hi, 65535.0f / 65536.0f);
  // The calibrator takes a fixed range as is (calib_targets); the test table gets it explicitly.
  Quantized q = quantize(float_net(), qnn, {{"s", fixed}});
  EXPECT_TRUE(broken(q.model, "qnn").empty());
  auto params = rewrite::resolve_params(q.graph, q.plan, q.table);
  EXPECT_EQ(params.at("s").type, QType::UInt16);
  EXPECT_EQ(params.at("s").scale.at(0), 1.0f / 65536.0f);  // exact: 2^-16
  EXPECT_EQ(params.at("s").zero_point.at(0), 0);
  // Without the qnn row the range is [0, 1]: scale 1/65535, which qnn's check flags (and no other target).
  EXPECT_EQ(rewrite::plan_quantization(build_graph(float_net()), u16).tensors.at("s").range.hi, 1.0f);
  Quantized plain = quantize(float_net(), u16, {{"s", Range{0.0f, 1.0f}}});
  EXPECT_EQ(broken(plain.model, "qnn").count("s_QuantizeLinear/fixed-output"), 1u);
  EXPECT_EQ(broken(plain.model, "openvino").count("s_QuantizeLinear/fixed-output"), 0u);
}
