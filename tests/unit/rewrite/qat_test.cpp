// SPDX-License-Identifier: Apache-2.0
// QAT exports: fold_qat_weights turns QuantizeLinear → DequantizeLinear on float weights into a
// DequantizeLinear of an integer initializer (results bit-identical in ptq's executor), keeps activation
// Q/DQ, and the planner then leaves the model's own quantization alone (only layers with float weights
// are planned; none without --calib).
#include <algorithm>
#include <cmath>

#include "ptq/exec/executor.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;

namespace {

// PyTorch's export: per-channel weight Q/DQ with the zero point through Cast (int32 → int8) and an
// Identity, activation Q/DQ around the input, and a float head Gemm with no Q/DQ of its own.
onnx::ModelProto qat_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
qat (float[2,3] x) => (float[2,4] y, float[2,2] z) {
  xq = QuantizeLinear (x, xs, xz)
  xd = DequantizeLinear (xq, xs, xz)
  zc = Cast <to = 3> (wz32)
  zi = Identity (zc)
  wq = QuantizeLinear <axis = 0> (W, ws, zi)
  wd = DequantizeLinear <axis = 0> (wq, ws, zi)
  y = Gemm <transB = 1> (xd, wd, B)
  z = Gemm <transB = 1> (xd, H)
}
)");
  add_initializer(m, "xs", Tensor::scalar<float>(0.02f));
  add_initializer(m, "xz", Tensor::scalar<uint8_t>(128));
  add_initializer(m, "wz32", Tensor::from_vector<int32_t>({0, 0, 0, 0}, {4}));
  add_initializer(m, "ws", Tensor::from_vector<float>({0.01f, 0.02f, 0.005f, 0.03f}, {4}));
  add_initializer(m, "W", random_tensor({4, 3}, 7));
  add_initializer(m, "B", random_tensor({4}, 8));
  add_initializer(m, "H", random_tensor({2, 3}, 9));
  return m;
}

exec::TensorMap run(const onnx::ModelProto& m, const exec::TensorMap& inputs) {
  exec::ExecOptions one_thread;
  one_thread.threads = 1;
  return exec::Executor(build_graph(m), one_thread).run(inputs);
}

}  // namespace

TEST(FoldQatWeights, WeightPairBecomesInt8InitializerWithIdenticalResults) {
  const onnx::ModelProto m = qat_model();
  ASSERT_TRUE(rewrite::has_qdq(m));
  rewrite::PassResult r = rewrite::fold_qat_weights(m);
  EXPECT_EQ(r.changed, 1u);
  auto counts = op_counts(r.model);
  EXPECT_EQ(counts["QuantizeLinear"], 1u);    // the activation's, kept
  EXPECT_EQ(counts["DequantizeLinear"], 2u);  // the activation's and the weight's
  EXPECT_EQ(counts.count("Cast") + counts.count("Identity"), 0u);
  EXPECT_EQ(find_initializer(r.model, "W"), nullptr);  // the float weight is gone
  const onnx::TensorProto* wq = find_initializer(r.model, "W_quantized");
  ASSERT_NE(wq, nullptr);
  EXPECT_EQ(wq->data_type(), onnx::TensorProto::INT8);
  // W_q = round(W / s) per row (zero point 0), saturated to [-128, 127].
  const Tensor w = random_tensor({4, 3}, 7), q = onnx_io::tensor_from_proto(*wq);
  const float s[] = {0.01f, 0.02f, 0.005f, 0.03f};
  for (int64_t i = 0; i < 12; ++i) {
    const float want = std::clamp(std::nearbyint(w.data<float>()[i] / s[i / 3]), -128.0f, 127.0f);
    EXPECT_EQ(q.data<int8_t>()[i], static_cast<int8_t>(want)) << i;
  }
  const onnx::NodeProto* dq = nullptr;
  for (const auto& n : r.model.graph().node())
    if (n.op_type() == "DequantizeLinear" && n.input(0) == "W_quantized") dq = &n;
  ASSERT_NE(dq, nullptr);
  ASSERT_NE(find_initializer(r.model, dq->input(2)), nullptr);  // the zero point is an initializer now
  EXPECT_EQ(find_initializer(r.model, dq->input(2))->data_type(), onnx::TensorProto::INT8);
  const exec::TensorMap in{{"x", random_tensor({2, 3}, 3)}};
  exec::TensorMap a = run(m, in), b = run(r.model, in);
  for (const char* out : {"y", "z"})
    for (int64_t i = 0; i < a.at(out).numel(); ++i) EXPECT_EQ(a.at(out).data<float>()[i], b.at(out).data<float>()[i]) << out;
}

TEST(FoldQatWeights, ActivationPairsAndNonConstantInputsAreLeft) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
act (float[2,3] x) => (float[2,3] y, uint8[2,3] q) {
  q = QuantizeLinear (x, s, z)
  y = DequantizeLinear (q, s, z)
}
)");
  add_initializer(m, "s", Tensor::scalar<float>(0.1f));
  add_initializer(m, "z", Tensor::scalar<uint8_t>(3));
  EXPECT_EQ(rewrite::fold_qat_weights(m).changed, 0u);
}

TEST(QatPlan, OnlyLayersWithFloatWeightsArePlannedAndNoneWithoutCalibration) {
  const onnx::ModelProto folded = rewrite::fold_qat_weights(qat_model()).model;
  const Graph g = build_graph(folded);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, {});
  ASSERT_EQ(g.nodes.size(), plan.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op_type != "Gemm") continue;
    const bool head = n.outputs[0] == "z";  // float weight H, no Q/DQ of its own
    EXPECT_EQ(plan.nodes[i].quantized, head) << n.describe() << ": " << plan.nodes[i].reason;
    if (!head) {
      EXPECT_EQ(plan.nodes[i].reason, "quantized by the model's own Q/DQ (QAT)");
    }
  }
  rewrite::QuantOptions import_only;
  import_only.qat_import_only = true;
  EXPECT_EQ(rewrite::plan_quantization(g, import_only).quantized_node_count(), 0u);
}

TEST(QatPlan, IntegerOpsAreStillRefused) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
dq (float[2,3] x) => (uint8[2,3] y, float[2,3] s, uint8[2,3] z) {
  y, s, z = DynamicQuantizeLinear (x)
}
)");
  EXPECT_THROW(rewrite::plan_quantization(build_graph(m), {}), UnsupportedError);
}
