// SPDX-License-Identifier: Apache-2.0
// Rewrite with 4-bit weights (--weight-type int4|uint4): opset-21 ONNX-domain DequantizeLinear from
// packed int4/uint4 initializers, symmetric per-channel codes, int32 biases with scale s_x·s_w, the
// executor running the result exactly as the float model with fake-quantized weights, and the option
// combinations that cannot work.
#include <cmath>

#include "ptq/exec/executor.h"
#include "ptq/ir/onnx_io.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::EdgeLayers;
using rewrite::QuantOptions;

namespace {

// Float model vs its 4-bit rewrite run by ptq's executor: relative to the output's largest magnitude
// (both compute with the same dequantized weights; only summation order may differ).
constexpr double kSameWeightsTol = 1e-5;

// x → Conv(W, B) → Relu → GlobalAveragePool → Flatten → Gemm(G, C) → MatMul(M) → y (opset 13); odd weight
// counts (G: 3·3 = 9, M: 3·5 = 15) exercise the packing's padding nibble.
onnx::ModelProto net() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,6,6] x) => (float[1,5] y) {
  c = Conv <pads = [1, 1, 1, 1]> (x, W, B)
  r = Relu (c)
  p = GlobalAveragePool (r)
  f = Flatten (p)
  g = Gemm <transB = 1> (f, G, C)
  y = MatMul (g, M)
}
)");
  add_initializer(m, "W", random_tensor({3, 2, 3, 3}, 41));
  add_initializer(m, "B", random_tensor({3}, 42));
  add_initializer(m, "G", random_tensor({3, 3}, 43));
  add_initializer(m, "C", random_tensor({3}, 44));
  add_initializer(m, "M", random_tensor({3, 5}, 45));
  return m;
}

// Every layer 4-bit (int8_first/int8_last 0): what the tests of the packing and the codes need.
QuantOptions four_bit(QType type, bool dynamic = false) {
  QuantOptions o;
  o.weight_type = type;
  o.int8_first = o.int8_last = 0;
  if (dynamic) o.mode = rewrite::QuantMode::Dynamic;
  return o;
}

// The stored type of weight `w` and the largest |code − zero point| of its channels.
std::pair<int, int32_t> stored(const onnx::ModelProto& m, const std::string& w) {
  const onnx::TensorProto* p = find_initializer(m, w + "_quantized");
  if (!p) return {-1, 0};
  Tensor codes = initializer_value(m, w + "_quantized"), zp = initializer_value(m, w + "_zero_point");
  const auto at = [](const Tensor& t, int64_t i) {
    return t.dtype() == DType::Int8 || t.dtype() == DType::Int4 ? int32_t{t.data<int8_t>()[i]} : int32_t{t.data<uint8_t>()[i]};
  };
  int32_t most = 0;
  for (int64_t i = 0; i < codes.numel(); ++i) most = std::max(most, std::abs(at(codes, i) - at(zp, 0)));
  return {p->data_type(), most};
}

const onnx::NodeProto* dq_of(const onnx::ModelProto& m, const std::string& weight) {
  return find_node(m, weight + "_DequantizeLinear");
}

}  // namespace

TEST(FourBitWeights, StaticModelUsesOpset21DequantizeLinearOnPackedWeights) {
  for (QType type : {QType::Int4, QType::UInt4}) {
    const std::string what = qtype_name(type);
    Quantized q = quantize(net(), four_bit(type));
    Quantized q8 = quantize(net());
    EXPECT_EQ(op_counts(q.model), op_counts(q8.model)) << what;  // the same graph as with int8 weights
    EXPECT_EQ(onnx_io::default_opset(q.model), 21) << what;
    EXPECT_GE(q.model.ir_version(), 10) << what;
    for (const auto& [w, axis, count] : {std::tuple{"W", 0, 54}, std::tuple{"G", 0, 9}, std::tuple{"M", 1, 15}}) {
      const onnx::TensorProto* p = find_initializer(q.model, std::string(w) + "_quantized");
      ASSERT_NE(p, nullptr) << what << " " << w;
      EXPECT_EQ(p->data_type(), static_cast<int>(qtype_dtype(type))) << what << " " << w;
      EXPECT_EQ(p->raw_data().size(), static_cast<size_t>((count + 1) / 2)) << what << " " << w;  // two a byte
      const onnx::NodeProto* dq = dq_of(q.model, w);
      ASSERT_NE(dq, nullptr) << w;
      EXPECT_EQ(dq->domain(), "") << w;
      EXPECT_EQ(attr_int(*dq, "axis", -1), axis) << w;
      Tensor zp = initializer_value(q.model, std::string(w) + "_zero_point");
      EXPECT_EQ(zp.dtype(), qtype_dtype(type)) << w;
      Tensor codes = initializer_value(q.model, std::string(w) + "_quantized");
      const int32_t mid = type == QType::Int4 ? 0 : 8;
      int32_t lo = 100, hi = -100;
      for (int64_t i = 0; i < codes.numel(); ++i) {
        const int32_t v = type == QType::Int4 ? codes.data<int8_t>()[i] : codes.data<uint8_t>()[i];
        lo = std::min(lo, v - mid), hi = std::max(hi, v - mid);
      }
      EXPECT_GE(lo, -7) << what << " " << w << ": symmetric codes";
      EXPECT_LE(hi, 7) << what << " " << w << ": symmetric codes";
      EXPECT_EQ(std::max(-lo, hi), 7) << what << " " << w << ": a channel's absmax maps to ±7";
      for (int64_t c = 0; c < zp.numel(); ++c)
        EXPECT_EQ(type == QType::Int4 ? zp.data<int8_t>()[c] : zp.data<uint8_t>()[c], mid) << w;
    }
    EXPECT_EQ(serialize(q.model), serialize(quantize(net(), four_bit(type)).model)) << what << ": deterministic bytes";
  }
}

TEST(FourBitWeights, BiasIsInt32WithScaleInputTimesWeightScale) {
  Quantized q = quantize(net(), four_bit(QType::Int4));
  EXPECT_EQ(find_initializer(q.model, "B_quantized")->data_type(), onnx::TensorProto::INT32);
  Tensor bs = initializer_value(q.model, "B_scale");
  const QParams& x = q.table.tensors.at("x").qparams;
  const QParams& w = q.table.tensors.at("W").qparams;
  ASSERT_EQ(bs.numel(), 3);
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_EQ(bs.data<float>()[c], static_cast<float>(double(x.scale[0]) * w.scale[static_cast<size_t>(c)])) << c;
}

TEST(FourBitWeights, DynamicModelRunsAsTheFloatModelWithFakeQuantizedWeights) {
  for (QType type : {QType::Int4, QType::UInt4}) {
    Quantized q = quantize(net(), four_bit(type, true));
    auto counts = op_counts(q.model);
    EXPECT_EQ(counts.count("QuantizeLinear"), 0u);
    EXPECT_EQ(counts["DequantizeLinear"], 3);  // W, G, M
    EXPECT_EQ(onnx_io::default_opset(q.model), 21);
    // Reference: the float model with every weight replaced by dequantize(quantize(W)).
    onnx::ModelProto ref = net();
    for (auto& init : *ref.mutable_graph()->mutable_initializer()) {
      auto it = q.table.tensors.find(init.name());
      if (it != q.table.tensors.end()) init = onnx_io::tensor_to_proto(fake_quantize(onnx_io::tensor_from_proto(init), it->second.qparams), init.name());
    }
    exec::TensorMap in = {{"x", random_tensor({1, 2, 6, 6}, 46)}};
    Graph qg = build_graph(q.model), rg = build_graph(ref);
    Tensor got = exec::Executor(qg).run(in).at("y"), want = exec::Executor(rg).run(in).at("y");
    double worst = 0.0, scale = 0.0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      worst = std::max(worst, std::fabs(double(got.data<float>()[i]) - want.data<float>()[i]));
      scale = std::max(scale, std::fabs(double(want.data<float>()[i])));
    }
    EXPECT_LE(worst, kSameWeightsTol * scale) << qtype_name(type);
    // ...and the 4-bit weights do change the output (the comparison above is not vacuous).
    Tensor fp = exec::Executor(q.graph).run(in).at("y");
    double moved = 0.0;
    for (int64_t i = 0; i < fp.numel(); ++i) moved = std::max(moved, std::fabs(double(fp.data<float>()[i]) - want.data<float>()[i]));
    EXPECT_GT(moved, 100 * kSameWeightsTol * scale) << qtype_name(type);
  }
}

TEST(FourBitWeights, ImpossibleCombinationsAreUsageErrors) {
  QuantOptions integer = four_bit(QType::Int4, true);
  integer.dynamic_format = rewrite::DynamicFormat::Integer;
  std::string err = error_of([&] { rewrite::validate_options(integer); });
  EXPECT_NE(err.find("the integer dynamic format needs 8-bit weights (ConvInteger/MatMulInteger), not int4"), std::string::npos) << err;
  EXPECT_THROW(rewrite::validate_options(integer), UsageError);
  QuantOptions rr = four_bit(QType::UInt4);
  rr.reduce_range = true;
  err = error_of([&] { rewrite::validate_options(rr); });
  EXPECT_NE(err.find("--reduce-range does not apply to uint4 weights"), std::string::npos) << err;
  QuantOptions act = four_bit(QType::Int4);
  act.activation_type = QType::Int4;
  err = error_of([&] { rewrite::validate_options(act); });
  EXPECT_NE(err.find("activation type int4 is not supported; expected one of: uint8, int8, uint16, int16"), std::string::npos) << err;
  EXPECT_NO_THROW(rewrite::validate_options(four_bit(QType::UInt4, true)));
}

// The default: the first and the last compute layer (Conv W, MatMul M) keep 8-bit weights, the middle one
// (Gemm G) is 4-bit; symmetric codes reach ±127 on the 8-bit ones; int8_first 2 takes G too; static and
// dynamic alike.
TEST(FourBitWeights, EdgeLayersKeepEightBitWeightsByDefault) {
  using P = onnx::TensorProto;
  for (bool dynamic : {false, true})
    for (QType type : {QType::Int4, QType::UInt4}) {
      const std::string what = qtype_name(type) + (dynamic ? " dynamic" : " static");
      QuantOptions o;
      o.weight_type = type;
      if (dynamic) o.mode = rewrite::QuantMode::Dynamic;
      const EdgeLayers e = rewrite::int8_edges(o);
      EXPECT_EQ(e.first, 1) << what;
      EXPECT_EQ(e.last, 1) << what;
      const int eight = type == QType::Int4 ? P::INT8 : P::UINT8, four = static_cast<int>(qtype_dtype(type));
      Quantized q = quantize(net(), o);
      EXPECT_EQ(stored(q.model, "W"), std::make_pair(eight, int32_t{127})) << what;
      EXPECT_EQ(stored(q.model, "G"), std::make_pair(four, int32_t{7})) << what;
      EXPECT_EQ(stored(q.model, "M"), std::make_pair(eight, int32_t{127})) << what;
      EXPECT_EQ(onnx_io::default_opset(q.model), 21) << what;
      o.int8_first = 2;
      o.int8_last = 0;
      Quantized q2 = quantize(net(), o);
      EXPECT_EQ(stored(q2.model, "G").first, eight) << what;
      EXPECT_EQ(stored(q2.model, "M").first, four) << what;
    }
  QuantOptions eight;  // 8-bit weights: nothing to keep
  EXPECT_FALSE(rewrite::int8_edges(eight).any());
  QuantOptions blocked = four_bit(QType::Int4, true);  // the weight-only path: the output head alone
  blocked.int8_first = blocked.int8_last = -1;
  blocked.block_size = 32;
  EXPECT_EQ(rewrite::int8_edges(blocked).first, 0);
  EXPECT_EQ(rewrite::int8_edges(blocked).last, 1);
  EXPECT_TRUE(rewrite::int8_edges(blocked).embeddings);
  EXPECT_FALSE(rewrite::int8_edges(four_bit(QType::Int4, true)).embeddings) << "without blocks";
}

TEST(FourBitWeights, EdgeLayerOptionsNeedFourBitWeights) {
  QuantOptions eight;
  eight.int8_last = 1;
  const std::string err = error_of([&] { rewrite::validate_options(eight); });
  EXPECT_NE(err.find("--int8-first/--int8-last keep the edge layers of a 4-bit model in 8 bits; the weights here are int8"), std::string::npos) << err;
  EXPECT_THROW(rewrite::validate_options(eight), UsageError);
  QuantOptions blocked = four_bit(QType::Int4, true);  // blocks too (their edge layers get 8-bit blocks)
  blocked.mode = rewrite::QuantMode::Dynamic;
  blocked.block_size = 32;
  blocked.int8_first = 1;
  EXPECT_NO_THROW(rewrite::validate_options(blocked));
}
