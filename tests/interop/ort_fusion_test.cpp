// SPDX-License-Identifier: Apache-2.0
// Fusion check: the Q/DQ placement must let ONNX Runtime turn every quantized op into an integer
// kernel. ONNX Runtime saves the graph it runs (session option optimizedModelFilePath, level
// "extended": the QDQ fusions, before layout transforms) for 8-bit static models, and the test
// counts its ops: Conv → QLinearConv, Gemm → QGemm, MatMul → QLinearMatMul, Add → QLinearAdd,
// Mul → QLinearMul, pools/sigmoid/softmax/leaky relu/concat → QLinear*, data movement runs on
// integers (its DQ→op→Q pair dropped), and the only QuantizeLinear/DequantizeLinear left are at the
// graph input and output. Float Conv/Gemm/MatMul/Add/Mul must not remain (uint8 activations; see
// the int8 branch for ONNX Runtime's limit on int8 activations).
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
  if (c.activations == QType::UInt8) {
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
  } else {
    // int8 activations: on CPUs without fast int8×int8 kernels ONNX Runtime converts int8 Q/DQ pairs to
    // uint8 (QDQS8ToU8Transformer), which skips a Q read by several DQs (after it gave every reader
    // its own DQ): ops reading a tensor with several readers stay float. Every other weighted op fuses.
    const int single_reader = c.conv ? 3 : 2;  // conv2 reads p1, which the residual Add reads too
    EXPECT_EQ(fused, single_reader) << listing;
  }
}

std::string case_name(const ::testing::TestParamInfo<FusionCase>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Static8Bit, OrtFusion, ::testing::ValuesIn(fusion_cases()), case_name);

}  // namespace
