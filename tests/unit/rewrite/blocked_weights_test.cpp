// SPDX-License-Identifier: Apache-2.0
// Blocked weight-only quantization (--block-size, --int4-format): the DequantizeLinear's axis, block_size
// and scale shape for MatMul, Gemm (transB) and a Gather table (symmetric int4: no zero point input), the scales against a hand computation
// (absmax of each block / 7), a partial last block, the executor running the result as the float model
// with fake-quantized weights; the MatMulNBits packing against a hand-computed example and the
// MatMulNBits model computing what the DequantizeLinear one computes; the option combinations refused.
#include <cmath>

#include "../../../src/rewrite/matmulnbits.h"
#include "ptq/exec/executor.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/quant/scale.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

constexpr double kSameWeightsTol = 1e-5;  // relative to the output's largest magnitude (summation order)

// ids → Gather(E [30, 40]) → MatMul(M [40, 24]) → Gemm(transB, G [5, 24]) → y. K = 40 with blocks of 16:
// 3 blocks, the last one of 8; G's K = 24: 2 blocks, the last one of 8. head_net(): the last layer a
// MatMul(H [24, 20]) instead, a language model's output head.
onnx::ModelProto net(bool matmul_head = false) {
  onnx::ModelProto m = parse_text_model(matmul_head ? R"(
<ir_version: 8, opset_import: ["" : 17]>
net (int64[4] ids) => (float[4,20] y) {
  e = Gather (E, ids)
  h = MatMul (e, M)
  y = MatMul (h, H)
}
)"
                                                    : R"(
<ir_version: 8, opset_import: ["" : 17]>
net (int64[4] ids) => (float[4,5] y) {
  e = Gather (E, ids)
  h = MatMul (e, M)
  y = Gemm <transB = 1> (h, G)
}
)");
  add_initializer(m, "E", random_tensor({30, 40}, 51));
  add_initializer(m, "M", random_tensor({40, 24}, 52));
  if (matmul_head)
    add_initializer(m, "H", random_tensor({24, 20}, 54));
  else
    add_initializer(m, "G", random_tensor({5, 24}, 53));
  return m;
}
onnx::ModelProto head_net() { return net(true); }

// Every layer and table in `type` (the last layer and the embedding too: see
// LastLayerAndEmbeddingKeepEightBitBlocksByDefault for the default).
QuantOptions blocked(QType type, int64_t block) {
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  o.weight_type = type;
  o.block_size = block;
  o.int8_last = 0;
  o.int8_embeddings = 0;
  return o;
}

exec::TensorMap ids() {
  Tensor t(DType::Int64, {4});
  for (int64_t i = 0; i < 4; ++i) t.data<int64_t>()[i] = (7 * i + 3) % 30;
  return {{"ids", t}};
}

}  // namespace

TEST(BlockedWeights, DequantizeLinearPerBlockWithHandComputedScales) {
  Quantized q = quantize(net(), blocked(QType::Int4, 16));
  EXPECT_EQ(onnx_io::default_opset(q.model), 21);
  struct Want {
    const char* name;
    int64_t axis;
    Shape scale;
  };
  for (const Want& w : {Want{"E", 1, {30, 3}}, Want{"M", 0, {3, 24}}, Want{"G", 1, {5, 2}}}) {
    const onnx::NodeProto* dq = find_node(q.model, std::string(w.name) + "_DequantizeLinear");
    ASSERT_NE(dq, nullptr) << w.name;
    EXPECT_EQ(attr_int(*dq, "axis", -1), w.axis) << w.name;
    EXPECT_EQ(attr_int(*dq, "block_size", 0), 16) << w.name;
    EXPECT_EQ(initializer_value(q.model, std::string(w.name) + "_scale").shape(), w.scale) << w.name;
    EXPECT_EQ(dq->input_size(), 2) << w.name << ": symmetric int4 blocks omit their zero points (0, the default)";
    EXPECT_EQ(find_initializer(q.model, std::string(w.name) + "_zero_point"), nullptr) << w.name;
  }
  Quantized u = quantize(net(), blocked(QType::UInt4, 16));  // uint4: zero point 8, kept
  const Tensor zp = initializer_value(u.model, "M_zero_point");
  EXPECT_EQ(zp.shape(), (Shape{3, 24}));
  for (int64_t i = 0; i < zp.numel(); ++i) EXPECT_EQ(zp.data<uint8_t>()[i], 8) << i;
  // M's scales: max |M[k, n]| over the block's rows k / 7 (symmetric int4), the last block rows 32..39.
  const Tensor m = random_tensor({40, 24}, 52), s = initializer_value(q.model, "M_scale");
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t n = 0; n < 24; ++n) {
      float top = 0.0f;
      for (int64_t k = b * 16; k < std::min<int64_t>(40, (b + 1) * 16); ++k) top = std::max(top, std::fabs(m.data<float>()[k * 24 + n]));
      EXPECT_NEAR(s.data<float>()[b * 24 + n], top / 7.0f, 1e-6f * top) << "block " << b << " column " << n;
    }
  EXPECT_EQ(serialize(q.model), serialize(quantize(net(), blocked(QType::Int4, 16)).model)) << "deterministic bytes";
}

TEST(BlockedWeights, ExecutorRunsTheFloatModelWithFakeQuantizedWeights) {
  for (QType type : {QType::Int4, QType::UInt4, QType::Int8}) {
    Quantized q = quantize(net(), blocked(type, 16));
    onnx::ModelProto ref = net();
    for (auto& init : *ref.mutable_graph()->mutable_initializer()) {
      auto it = q.table.tensors.find(init.name());
      ASSERT_NE(it, q.table.tensors.end()) << init.name();
      EXPECT_EQ(it->second.qparams.block, 16) << init.name();
      init = onnx_io::tensor_to_proto(fake_quantize(onnx_io::tensor_from_proto(init), it->second.qparams), init.name());
    }
    Graph qg = build_graph(q.model), rg = build_graph(ref);
    const Tensor got = exec::Executor(qg).run(ids()).at("y"), want = exec::Executor(rg).run(ids()).at("y");
    EXPECT_LE(max_relative_diff(got, want), kSameWeightsTol) << qtype_name(type);
    const Tensor fp = exec::Executor(q.graph).run(ids()).at("y");
    EXPECT_GT(max_relative_diff(fp, want), 100 * kSameWeightsTol) << qtype_name(type) << ": the weights did change";
  }
}

TEST(MatMulNBits, PackingMatchesAHandComputedExample) {
  // q [K = 20, N = 2], blocks of 16 (the second block: 4 rows, padded). Column 0: codes k%16 − 8 (u = k%16),
  // column 1: 7 − k%16 (u = 15 − k%16). Scales [block, n] = 0.5 + block + 2n.
  Tensor q(DType::Int4, {20, 2}), scale(DType::Float32, {2, 2}), zp = Tensor::zeros(DType::Int4, {2, 2});
  for (int64_t k = 0; k < 20; ++k) {
    q.data<int8_t>()[k * 2] = static_cast<int8_t>(k % 16 - 8);
    q.data<int8_t>()[k * 2 + 1] = static_cast<int8_t>(7 - k % 16);
  }
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t n = 0; n < 2; ++n) scale.data<float>()[b * 2 + n] = 0.5f + b + 2 * n;
  rewrite::PackedNBits p = rewrite::pack_matmulnbits(q, scale, zp, 16);
  EXPECT_EQ(p.weight.shape(), (Shape{2, 2, 8}));
  const std::vector<uint8_t> want = {0x10, 0x32, 0x54, 0x76, 0x98, 0xBA, 0xDC, 0xFE,   // n 0, block 0
                                     0x10, 0x32, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88,   // n 0, block 1 (padded with 8)
                                     0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01,   // n 1, block 0
                                     0xEF, 0xCD, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};  // n 1, block 1
  ASSERT_EQ(p.weight.numel(), 32);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(p.weight.data<uint8_t>()[i], want[i]) << "byte " << i;
  const std::vector<float> scales = {0.5f, 1.5f, 2.5f, 3.5f};  // [n · k_blocks + b]
  for (size_t i = 0; i < scales.size(); ++i) EXPECT_EQ(p.scales.data<float>()[i], scales[i]) << i;
  EXPECT_TRUE(p.default_zero_points);
  // uint4 with zero points [block, n] = {{1, 2}, {3, 4}}: one byte per column, block 0 in the low nibble.
  Tensor uq(DType::UInt4, {20, 2}), uz(DType::UInt4, {2, 2});
  for (int64_t i = 0; i < 40; ++i) uq.data<uint8_t>()[i] = static_cast<uint8_t>(i % 16);
  for (int64_t i = 0; i < 4; ++i) uz.data<uint8_t>()[i] = static_cast<uint8_t>(i + 1);
  rewrite::PackedNBits u = rewrite::pack_matmulnbits(uq, scale, uz, 16);
  EXPECT_FALSE(u.default_zero_points);
  ASSERT_EQ(u.zero_points.numel(), 2);
  EXPECT_EQ(u.zero_points.data<uint8_t>()[0], 0x31);
  EXPECT_EQ(u.zero_points.data<uint8_t>()[1], 0x42);
  EXPECT_EQ(u.weight.data<uint8_t>()[0], 0x20);                       // q[0,0] = 0, q[1,0] = 2
  EXPECT_EQ(u.weight.data<uint8_t>()[8 + 2], 0x33);                   // column 0, block 1: padding z = 3
}

// 4-bit blocks keep the last compute layer (the output head) and the embedding table (read by Gather) in
// 8-bit blocks by default: int8, blocks of the same size, scales absmax / 127, the zero point written
// (int8 zeros of the scale's shape: ONNX Runtime with session.x64quantprecision cannot run a blocked int8
// DequantizeLinear without one); --int8-last 0 / --int8-embeddings off make them 4-bit, --int8-first 1
// adds the first MatMul.
TEST(BlockedWeights, LastLayerAndEmbeddingKeepEightBitBlocksByDefault) {
  QuantOptions o = blocked(QType::Int4, 16);
  o.int8_last = o.int8_embeddings = -1;  // the defaults
  EXPECT_EQ(rewrite::int8_edges(o).first, 0);
  EXPECT_EQ(rewrite::int8_edges(o).last, 1);
  EXPECT_TRUE(rewrite::int8_edges(o).embeddings);
  Quantized q = quantize(head_net(), o);
  EXPECT_EQ(initializer_value(q.model, "H_quantized").dtype(), DType::Int8);
  EXPECT_EQ(initializer_value(q.model, "M_quantized").dtype(), DType::Int4);
  EXPECT_EQ(initializer_value(q.model, "E_quantized").dtype(), DType::Int8);
  EXPECT_EQ(initializer_value(q.model, "E_scale").shape(), (Shape{30, 3})) << "blocks along the rows";
  const onnx::NodeProto* dq = find_node(q.model, "H_DequantizeLinear");
  ASSERT_NE(dq, nullptr);
  EXPECT_EQ(attr_int(*dq, "block_size", 0), 16);
  ASSERT_EQ(dq->input_size(), 3);
  const Tensor zp = initializer_value(q.model, dq->input(2));
  EXPECT_EQ(zp.dtype(), DType::Int8);
  EXPECT_EQ(zp.shape(), (Shape{2, 20}));
  for (int64_t i = 0; i < zp.numel(); ++i) EXPECT_EQ(zp.data<int8_t>()[i], 0) << i;
  const Tensor h = random_tensor({24, 20}, 54), s = initializer_value(q.model, "H_scale");
  for (int64_t b = 0; b < 2; ++b)  // K = 24: rows 0..15 and 16..23
    for (int64_t n = 0; n < 20; ++n) {
      float top = 0.0f;
      for (int64_t k = b * 16; k < std::min<int64_t>(24, (b + 1) * 16); ++k) top = std::max(top, std::fabs(h.data<float>()[k * 20 + n]));
      EXPECT_NEAR(s.data<float>()[b * 20 + n], top / 127.0f, 1e-6f * top) << "block " << b << " column " << n;
    }
  o.int8_last = 0;
  o.int8_embeddings = 0;
  Quantized off = quantize(head_net(), o);
  EXPECT_EQ(initializer_value(off.model, "H_quantized").dtype(), DType::Int4);
  EXPECT_EQ(initializer_value(off.model, "E_quantized").dtype(), DType::Int4);
  o.int8_last = -1;
  o.int8_first = 1;  // the first MatMul, and what lies before it (the embedding, also without int8_embeddings)
  EXPECT_NO_THROW(rewrite::validate_options(o));
  Quantized both = quantize(head_net(), o);
  EXPECT_EQ(initializer_value(both.model, "M_quantized").dtype(), DType::Int8);
  EXPECT_EQ(initializer_value(both.model, "E_quantized").dtype(), DType::Int8);
  QuantOptions unblocked = o;  // --int8-embeddings on needs 4-bit blocks
  unblocked.block_size = 0;
  unblocked.int8_first = -1;
  unblocked.int8_embeddings = 1;
  EXPECT_THROW(rewrite::validate_options(unblocked), UsageError);
  o.weight_type = QType::UInt4;  // uint4: the head is uint8 with zero point 128
  o.int8_first = o.int8_embeddings = -1;
  Quantized u = quantize(head_net(), o);
  EXPECT_EQ(initializer_value(u.model, "H_quantized").dtype(), DType::UInt8);
  const Tensor uz = initializer_value(u.model, "H_zero_point");
  for (int64_t i = 0; i < uz.numel(); ++i) EXPECT_EQ(uz.data<uint8_t>()[i], 128) << i;
  EXPECT_EQ(initializer_value(u.model, "E_quantized").dtype(), DType::UInt8);
}

TEST(MatMulNBits, EightBitPackingMatchesAHandComputedExample) {
  // int8 q [K = 20, N = 2], blocks of 16: one byte per element, u = q + 128; the last block's tail padded
  // with its zero point (128); zero points one byte per block, all 128 (the default: may be omitted).
  Tensor q(DType::Int8, {20, 2}), scale(DType::Float32, {2, 2}), zp = Tensor::zeros(DType::Int8, {2, 2});
  for (int64_t k = 0; k < 20; ++k) {
    q.data<int8_t>()[k * 2] = static_cast<int8_t>(k * 13 - 128);
    q.data<int8_t>()[k * 2 + 1] = static_cast<int8_t>(127 - k);
  }
  for (int64_t i = 0; i < 4; ++i) scale.data<float>()[i] = 0.25f * static_cast<float>(i + 1);
  rewrite::PackedNBits p = rewrite::pack_matmulnbits(q, scale, zp, 16);
  EXPECT_EQ(p.bits, 8);
  EXPECT_EQ(p.weight.shape(), (Shape{2, 2, 16}));
  const uint8_t* w = p.weight.data<uint8_t>();
  for (int64_t k = 0; k < 32; ++k) {
    const int64_t b = k / 16, j = k % 16;
    EXPECT_EQ(w[(0 * 2 + b) * 16 + j], k < 20 ? static_cast<uint8_t>(k * 13) : 128) << "n 0, k " << k;
    EXPECT_EQ(w[(1 * 2 + b) * 16 + j], k < 20 ? static_cast<uint8_t>(255 - k) : 128) << "n 1, k " << k;
  }
  EXPECT_TRUE(p.default_zero_points);
  ASSERT_EQ(p.zero_points.numel(), 4);
  // uint8 with zero points [block, n] = {{1, 2}, {3, 4}}: u = q, zero points [n · k_blocks + b].
  Tensor uq(DType::UInt8, {20, 2}), uz(DType::UInt8, {2, 2});
  for (int64_t i = 0; i < 40; ++i) uq.data<uint8_t>()[i] = static_cast<uint8_t>(i * 5);
  for (int64_t i = 0; i < 4; ++i) uz.data<uint8_t>()[i] = static_cast<uint8_t>(i + 1);
  rewrite::PackedNBits u = rewrite::pack_matmulnbits(uq, scale, uz, 16);
  EXPECT_FALSE(u.default_zero_points);
  const std::vector<uint8_t> zps = {1, 3, 2, 4};
  for (size_t i = 0; i < zps.size(); ++i) EXPECT_EQ(u.zero_points.data<uint8_t>()[i], zps[i]) << i;
  EXPECT_EQ(u.weight.data<uint8_t>()[1], 10);             // q[1, 0]
  EXPECT_EQ(u.weight.data<uint8_t>()[16 + 4], 3);         // column 0, block 1, k = 20: padding z = 3
}

// With --int4-format matmulnbits the 8-bit head becomes a MatMulNBits with bits 8 beside the 4-bit ones,
// the 8-bit embedding a GatherBlockQuantized with bits 8, and the model computes what the
// DequantizeLinear form computes.
TEST(MatMulNBits, EightBitHeadComputesWhatTheDequantizeLinearModelComputes) {
  QuantOptions o = blocked(QType::Int4, 16);
  o.int8_last = o.int8_embeddings = -1;
  Quantized dq = quantize(head_net(), o);
  o.int4_format = rewrite::Int4Format::MatMulNBits;
  Quantized nb = quantize(head_net(), o);
  std::map<int64_t, int> by_bits;
  for (const auto& n : nb.model.graph().node())
    if (n.op_type() == "MatMulNBits") ++by_bits[attr_int(n, "bits", 0)];
  EXPECT_EQ(by_bits, (std::map<int64_t, int>{{4, 1}, {8, 1}}));
  const onnx::NodeProto* gbq = nullptr;  // the 8-bit embedding: GatherBlockQuantized, one byte a code
  for (const auto& n : nb.model.graph().node())
    if (n.op_type() == "GatherBlockQuantized") gbq = &n;
  ASSERT_NE(gbq, nullptr);
  EXPECT_EQ(attr_int(*gbq, "bits", 0), 8);
  EXPECT_EQ(initializer_value(nb.model, gbq->input(0)).shape(), (Shape{30, 40}));
  EXPECT_EQ(initializer_value(nb.model, gbq->input(2)).shape(), (Shape{30, 3}));
  Graph a = build_graph(dq.model), b = build_graph(nb.model);
  EXPECT_LE(max_relative_diff(exec::Executor(b).run(ids()).at("y"), exec::Executor(a).run(ids()).at("y")), kSameWeightsTol);
}

TEST(MatMulNBits, ModelComputesWhatTheDequantizeLinearModelComputes) {
  QuantOptions o = blocked(QType::Int4, 16);
  Quantized dq = quantize(net(), o);
  o.int4_format = rewrite::Int4Format::MatMulNBits;
  Quantized nb = quantize(net(), o);
  auto counts = op_counts(nb.model);
  EXPECT_EQ(counts["com.microsoft:MatMulNBits"], 1);
  EXPECT_EQ(counts.count("MatMul"), 0u);
  EXPECT_EQ(counts["com.microsoft:GatherBlockQuantized"], 1);  // E's DQ → Gather
  EXPECT_EQ(counts.count("Gather"), 0u);
  EXPECT_EQ(counts["DequantizeLinear"], 1);  // G (Gemm) keeps its
  EXPECT_EQ(find_initializer(nb.model, "M_quantized"), nullptr) << "the DQ's initializers are dropped";
  EXPECT_EQ(find_initializer(nb.model, "E_quantized"), nullptr);
  Graph a = build_graph(dq.model), b = build_graph(nb.model);
  EXPECT_LE(max_relative_diff(exec::Executor(b).run(ids()).at("y"), exec::Executor(a).run(ids()).at("y")), kSameWeightsTol);
}

TEST(BlockedWeights, ImpossibleCombinationsAreUsageErrors) {
  auto refused = [](const QuantOptions& o, const std::string& what) {
    const std::string err = error_of([&] { rewrite::validate_options(o); });
    EXPECT_NE(err.find(what), std::string::npos) << err;
    EXPECT_THROW(rewrite::validate_options(o), UsageError);
  };
  refused(blocked(QType::Int4, 24), "--block-size 24 is not supported; expected one of: 16, 32, 64, 128");
  QuantOptions st = blocked(QType::Int4, 32);
  st.mode = rewrite::QuantMode::Static;
  refused(st, "--block-size applies to weight-only quantization; add --mode dynamic");
  refused(blocked(QType::Int16, 32), "--block-size takes 4- or 8-bit weights, not int16");
  QuantOptions integer = blocked(QType::Int8, 32);
  integer.dynamic_format = rewrite::DynamicFormat::Integer;
  refused(integer, "--block-size cannot be combined with --dynamic-format integer");
  QuantOptions nb8 = blocked(QType::Int8, 32);
  nb8.int4_format = rewrite::Int4Format::MatMulNBits;
  refused(nb8, "--int4-format matmulnbits needs weight-only 4-bit blocks");
  QuantOptions nb_static;
  nb_static.weight_type = QType::Int4;
  nb_static.int4_format = rewrite::Int4Format::MatMulNBits;
  refused(nb_static, "--int4-format matmulnbits needs weight-only 4-bit blocks");
  EXPECT_NO_THROW(rewrite::validate_options(blocked(QType::UInt4, 128)));
}

// The precision search's 16-bit layers (PrecisionOverrides::wide_nodes) keep their blocks: retype_table
// recomputes a promoted weight's parameters per block from the min/max observed per block.
TEST(BlockedWeights, WideLayersKeepTheirBlocks) {
  QuantOptions o = blocked(QType::Int4, 16);
  const onnx::ModelProto m = net();
  const Graph g = build_graph(m);
  const calib::CalibTable table = rewrite::weight_table(g, rewrite::plan_quantization(g, o));
  int matmul = -1;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op_type == "MatMul") matmul = static_cast<int>(i);
  ASSERT_GE(matmul, 0);
  o.precision.wide_nodes = {matmul};
  const rewrite::QuantPlan plan = rewrite::plan_quantization(g, o);
  const calib::CalibTable wide = rewrite::retype_table(table, plan);
  const QParams& p = wide.tensors.at("M").qparams;
  EXPECT_EQ(p.type, QType::Int16);
  EXPECT_EQ(p.block, 16);
  EXPECT_EQ(p.scale_shape, (Shape{3, 24}));
  const Tensor w = random_tensor({40, 24}, 52);
  float top = 0.0f;  // block 1 of column 5: rows 16..31
  for (int64_t k = 16; k < 32; ++k) top = std::max(top, std::fabs(w.data<float>()[k * 24 + 5]));
  EXPECT_NEAR(p.scale[24 + 5], top / 32767.0f, 1e-6f * top / 32767.0f);
  const onnx::ModelProto q = rewrite::rewrite_model(m, g, plan, wide);
  const onnx::NodeProto* dq = find_node(q, "M_DequantizeLinear");
  ASSERT_NE(dq, nullptr);
  EXPECT_EQ(dq->input_size(), 3) << "int16: the zero point is written";
  EXPECT_EQ(wide.tensors.at("E").qparams.type, QType::Int4) << "other layers keep 4 bits";
}

// A constant table read through Slice (learned positions) is blocked along its last axis with
// --block-size, and only then: plain dynamic mode leaves it float.
TEST(BlockedWeights, SlicedConstantTableIsBlockedAlongItsLastAxis) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
net (float[3,40] x) => (float[3,40] y) {
  p = Slice (P, starts, ends, axes)
  y = Add (x, p)
}
)");
  add_initializer(m, "P", random_tensor({8, 40}, 61));
  Tensor starts(DType::Int64, {1}), ends(DType::Int64, {1}), axes(DType::Int64, {1});
  starts.data<int64_t>()[0] = 0, ends.data<int64_t>()[0] = 3, axes.data<int64_t>()[0] = 0;
  add_initializer(m, "starts", starts);
  add_initializer(m, "ends", ends);
  add_initializer(m, "axes", axes);
  Quantized q = quantize(m, blocked(QType::Int4, 32));
  const onnx::NodeProto* dq = find_node(q.model, "P_DequantizeLinear");
  ASSERT_NE(dq, nullptr);
  EXPECT_EQ(attr_int(*dq, "axis", -1), 1);
  EXPECT_EQ(attr_int(*dq, "block_size", 0), 32);
  EXPECT_EQ(initializer_value(q.model, "P_scale").shape(), (Shape{8, 2}));
  QuantOptions plain;
  plain.mode = rewrite::QuantMode::Dynamic;
  const Graph g = build_graph(m);
  const std::string err = error_of([&] { rewrite::plan_quantization(g, plain); });  // nothing else to quantize
  EXPECT_NE(err.find("(Slice) writing 'p': dynamic mode quantizes constant weights only"), std::string::npos) << err;
}
