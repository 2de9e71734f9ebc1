// SPDX-License-Identifier: Apache-2.0
// Fusion check: the Q/DQ placement must let ONNX Runtime turn every quantized op into an integer
// kernel. ONNX Runtime saves the graph it runs (session option optimizedModelFilePath, level
// "extended": the QDQ fusions, before layout transforms) for 8-bit static models, and the test
// counts its ops: Conv → QLinearConv, Gemm → QGemm, MatMul → QLinearMatMul, Add → QLinearAdd,
// Mul → QLinearMul, pools/sigmoid/softmax/leaky relu/concat → QLinear*, data movement runs on
// integers (its DQ→op→Q pair dropped), and the only QuantizeLinear/DequantizeLinear left are at the
// graph input and output. Float Conv/Gemm/MatMul/Add/Mul must not remain, with uint8 or int8
// activations (int8: see QuantOptions::unsigned_shared_int8 and the control at the end).
#include <gtest/gtest.h>

#include <map>

#include "interop_models.h"
#include "ort_util.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;

namespace {

struct FusionCase {
  std::string name;
  bool conv;  // conv_net, else mlp_net
  int opset;
  QType activations;
  bool per_channel;
};

void PrintTo(const FusionCase& c, std::ostream* os) { *os << c.name; }

std::vector<FusionCase> fusion_cases() {
  std::vector<FusionCase> cases;
  for (bool conv : {true, false})
    for (QType act : {QType::UInt8, QType::Int8})
      for (bool pc : {true, false})
        for (int opset : {13, 11}) {
          std::string name = std::string(conv ? "conv" : "mlp") + (act == QType::UInt8 ? "_au8" : "_as8") +
                             (pc ? "_pc" : "_pt") + "_opset" + std::to_string(opset);
          cases.push_back({name, conv, opset, act, pc});
        }
  return cases;
}

// Op type -> count; contrib ops keyed "com.microsoft:Op".
std::map<std::string, int> count_ops(const onnx::ModelProto& m) {
  std::map<std::string, int> counts;
  for (const auto& n : m.graph().node()) ++counts[n.domain().empty() ? n.op_type() : n.domain() + ":" + n.op_type()];
  return counts;
}

int count_any(const std::map<std::string, int>& counts, std::initializer_list<const char*> names) {
  int n = 0;
  for (const char* name : names) {
    auto it = counts.find(name);
    if (it != counts.end()) n += it->second;
  }
  return n;
}

class OrtFusion : public ::testing::TestWithParam<FusionCase> {};

TEST_P(OrtFusion, QuantizedOpsBecomeIntegerKernels) {
  const FusionCase& c = GetParam();
  onnx::ModelProto model = c.conv ? conv_net(c.opset) : mlp_net(c.opset);
  Graph graph = build_graph(model);
  const auto dir = fresh_dir();
  exec::TensorMap samples = make_inputs(model, 8, 3);
  rewrite::QuantOptions options;
  options.activation_type = c.activations;
  options.per_channel = c.per_channel;
  rewrite::QuantPlan plan = rewrite::plan_quantization(graph, options);
  onnx::ModelProto q = rewrite::rewrite_model(model, graph, plan, minmax_table(graph, plan, ort_activations(model, graph, samples, dir / "fp32")));
  OrtOptions ort;
  ort.level = "extended";
  ort.optimized = dir / "optimized.onnx";
  OrtRun run = ort_run(q, samples, dir / "quantized", ort);
  ASSERT_TRUE(run.ok) << run.error;
  onnx::ModelProto optimized = onnx_io::load_model(ort.optimized).proto;
  auto ops = count_ops(optimized);
  std::string listing;
  for (const auto& [op, n] : ops) listing += op + "×" + std::to_string(n) + " ";
  std::printf("[fusion] %-22s %s\n", c.name.c_str(), listing.c_str());

  const int weighted = c.conv ? 4 : 2;  // Conv×3 + Gemm, or MatMul + Gemm
  const int fused = count_any(ops, {"QLinearConv", "QLinearMatMul", "com.microsoft:QGemm"});
  const int q_count = count_any(ops, {"QuantizeLinear", "com.microsoft:QuantizeLinear"});
  const int dq_count = count_any(ops, {"DequantizeLinear", "com.microsoft:DequantizeLinear"});
  // int8 activations: ONNX Runtime's CPU provider converts every int8 Q→DQ pair to uint8
  // (QDQS8ToU8Transformer); tensors read by several nodes are written as uint8 already
  // (QuantOptions::unsigned_shared_int8, the default), so the int8 model fuses exactly like the uint8 one.
  EXPECT_EQ(fused, weighted) << listing;
  EXPECT_EQ(count_any(ops, {"Conv", "Gemm", "MatMul", "Add", "Mul", "Sigmoid", "LeakyRelu", "Softmax", "Concat",
                            "GlobalAveragePool"}),
            0)
      << "float compute ops remain: " << listing;
  // Only the graph input's Q and the output's DQ remain — and, below opset 12 where MaxPool has no
  // 8-bit version, the pair around MaxPool.
  const int maxpool_pair = c.conv && c.opset < 12 ? 1 : 0;
  EXPECT_EQ(q_count, 1 + maxpool_pair) << listing;
  EXPECT_EQ(dq_count, 1 + maxpool_pair) << listing;
  if (c.conv) {
    EXPECT_EQ(ops["com.microsoft:QLinearAdd"], 1) << listing;
    EXPECT_EQ(ops["com.microsoft:QLinearGlobalAveragePool"], 1) << listing;
  } else {
    for (const char* op : {"QLinearAdd", "QLinearMul", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax"})
      EXPECT_EQ(ops[std::string("com.microsoft:") + op], 1) << op << ": " << listing;
  }
  if (c.activations == QType::Int8) {
    // The control: without the uint8 rewrite, the nodes around a tensor read by several nodes stay float
    // (its int8 Q keeps several DQ readers, which QDQS8ToU8Transformer skips), and so does an Add reading
    // an int8 constant.
    options.unsigned_shared_int8 = false;
    rewrite::QuantPlan plain_plan = rewrite::plan_quantization(graph, options);
    onnx::ModelProto plain = rewrite::rewrite_model(model, graph, plain_plan, minmax_table(graph, plain_plan, ort_activations(model, graph, samples, dir / "fp32b")));
    OrtOptions o2 = ort;
    o2.optimized = dir / "optimized_plain.onnx";
    ASSERT_TRUE(ort_run(plain, samples, dir / "plain", o2).ok);
    auto plain_ops = count_ops(onnx_io::load_model(o2.optimized).proto);
    EXPECT_GT(count_any(plain_ops, {"Conv", "Gemm", "MatMul", "Add", "Mul", "Sigmoid", "LeakyRelu", "Softmax", "Concat",
                                    "GlobalAveragePool"}),
              0);
  }
}

std::string case_name(const ::testing::TestParamInfo<FusionCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Static8Bit, OrtFusion, ::testing::ValuesIn(fusion_cases()), case_name);

}  // namespace
