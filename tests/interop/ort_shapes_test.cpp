// SPDX-License-Identifier: Apache-2.0
// Old opsets and odd graphs (tests/odd_models.h) quantized by the `quantize` CLI, then run in ONNX
// Runtime: opsets 7-9 raised to 11 (Upsample nearest and linear become Resize-11), models whose input
// dims are all symbolic (run on inputs of another size than the calibration samples), an IR-3 model
// without value_info and an output without a shape, value_info contradicting the real shapes, a
// training-mode BatchNormalization, an output after a com.microsoft op typed by a run. For each: ONNX
// Runtime loads and runs the written model (default optimizations), its output stays close to the FP32
// model's in ONNX Runtime (cosine ≥ kCos8Bit), and ptq's executor agrees with ONNX Runtime on the
// written model without fusions (outputs of a DequantizeLinear within kExecutorLsb steps of its scale,
// float outputs within kExecutorFloatTol of the output's largest magnitude), the bounds of
// ort_interop_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "odd_models.h"
#include "ort_util.h"
#include "ptq/exec/executor.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;
namespace fs = std::filesystem;

namespace {

// Measured on 32 calibration samples: cosine ≥ 0.99986, executor within 0 LSB (1e-7 relative for the
// float running mean).
constexpr double kCos8Bit = 0.999;
constexpr double kExecutorLsb = 1.0;
constexpr double kExecutorFloatTol = 1e-4;

struct Case {
  std::string name;
  std::function<onnx::ModelProto()> model;      // what is quantized
  std::function<onnx::ModelProto()> reference;  // the FP32 model ONNX Runtime runs (nullptr: `model`)
  Shape calib, eval;                             // x of the calibration samples and of the evaluation input
};

onnx::ModelProto contradicting() {
  onnx::ModelProto m = small_cnn("2,3,10,12", "2,5");
  set_value_info(m, "c1", onnx::TensorProto::INT64, {"2", "4", "10", "12"});  // ONNX Runtime refuses this one
  set_value_info(m, "f", onnx::TensorProto::FLOAT, {"2", "4", "1"});
  set_value_info(m, "y", onnx::TensorProto::FLOAT, {"2", "7"});
  return m;
}

std::vector<Case> cases() {
  std::vector<Case> c;
  for (int64_t opset : {7, 8, 9})
    for (const std::string mode : {"nearest", "linear"})
      c.push_back({"opset" + std::to_string(opset) + "_" + mode, [opset, mode] { return old_opset_cnn(opset, mode); }, nullptr,
                   {1, 3, 8, 8}, {1, 3, 8, 8}});
  c.push_back({"symbolic_cnn", [] { return small_cnn("N,C,H,W", "N,K"); }, nullptr, {2, 3, 10, 12}, {3, 3, 7, 9}});
  c.push_back({"symbolic_mlp", [] { return small_mlp("B,T,D", "B,T,K"); }, nullptr, {2, 5, 6}, {3, 4, 6}});
  c.push_back({"ir3_no_value_info", ir3_cnn, nullptr, {2, 3, 10, 12}, {3, 3, 10, 12}});
  c.push_back({"contradicting_value_info", contradicting, [] { return small_cnn("2,3,10,12", "2,5"); }, {2, 3, 10, 12}, {2, 3, 10, 12}});
  c.push_back({"training_batch_norm", training_bn_cnn, nullptr, {2, 3, 8, 8}, {3, 3, 8, 8}});
  c.push_back({"custom_domain_output_typed_by_a_run", custom_domain_mlp, nullptr, {2, 4}, {2, 4}});
  return c;
}

// The scale of the DequantizeLinear writing `output`, or 0 when another node writes it.
double dq_step(const onnx::ModelProto& m, const std::string& output) {
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "DequantizeLinear" || n.output(0) != output) continue;
    for (const auto& t : m.graph().initializer())
      if (t.name() == n.input(1)) return onnx_io::tensor_from_proto(t).data<float>()[0];
  }
  return 0.0;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(double(t.data<float>()[i])));
  return m;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class OrtShapes : public ::testing::TestWithParam<Case> {};

TEST_P(OrtShapes, WrittenModelRunsInOnnxRuntimeCloseToFp32AndMatchesPtqExecutor) {
  const Case& c = GetParam();
  const fs::path dir = fresh_dir();
  const onnx::ModelProto model = c.model();
  write_model(model, dir / "model.onnx");
  write_samples(dir / "calib", "x", c.calib, 32, 300);
  RunResult r = run_quantize("'" + (dir / "model.onnx").string() + "' --calib '" + (dir / "calib").string() + "' -q -o '" +
                             (dir / "q.onnx").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  onnx::ModelProto q;
  ASSERT_TRUE(q.ParseFromString(read_bytes(dir / "q.onnx")));

  const exec::TensorMap inputs{{"x", random_tensor(c.eval, 900)}};
  const OrtRun ref = ort_run(c.reference ? c.reference() : model, inputs, dir / "fp32");
  ASSERT_TRUE(ref.ok) << ref.error;
  const OrtRun fused = ort_run(q, inputs, dir / "all");
  ASSERT_TRUE(fused.ok) << "ONNX Runtime rejected the written model: " << fused.error;
  const OrtRun plain = ort_run(q, inputs, dir / "disabled", {"disabled", {}});
  ASSERT_TRUE(plain.ok) << plain.error;
  exec::ExecOptions one_thread;
  one_thread.threads = 1;
  const Graph qg = build_graph(q);
  const exec::TensorMap ours = exec::Executor(qg, one_thread).run(inputs);

  for (const auto& [name, want] : ref.outputs) {
    const Tensor &got = fused.outputs.at(name), &theirs = plain.outputs.at(name), &mine = ours.at(name);
    ASSERT_EQ(got.shape(), want.shape()) << name;
    ASSERT_EQ(mine.shape(), theirs.shape()) << name;
    const double cos = cosine(want, got);
    EXPECT_GE(cos, kCos8Bit) << c.name << ": output '" << name << "' cosine vs FP32";
    const double step = dq_step(q, name);
    double diff = 0;
    for (int64_t i = 0; i < mine.numel(); ++i) {
      const double a = mine.data<float>()[i], b = theirs.data<float>()[i];
      diff = std::max(diff, step > 0 ? std::fabs(std::nearbyint(a / step) - std::nearbyint(b / step)) : std::fabs(a - b));
    }
    if (step == 0) diff /= std::max(max_abs(theirs), 1e-30);
    std::printf("[interop] %-26s %-3s cosine %.6f  executor diff %.3g %s\n", c.name.c_str(), name.c_str(), cos, diff, step > 0 ? "LSB" : "rel");
    EXPECT_LE(diff, step > 0 ? kExecutorLsb : kExecutorFloatTol) << c.name << ": ptq executor vs ONNX Runtime, output '" << name << "'";
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(OddGraphs, OrtShapes, ::testing::ValuesIn(cases()), case_name);

}  // namespace

namespace {

// Weights-only 8-bit 1x1 Conv: its output differs from FP32 by well under this (relative to the output's
// largest magnitude); a sampling point of Resize differing from Upsample's would differ by O(1) there.
constexpr double kDynamicRel = 0.02;

double max_rel_diff(const Tensor& got, const Tensor& want) {
  double m = 0;
  for (int64_t i = 0; i < got.numel(); ++i) m = std::max(m, std::fabs(double(got.data<float>()[i]) - want.data<float>()[i]));
  return m / std::max(max_abs(want), 1e-30);
}

}  // namespace

// Upsample-7/9 (nearest, linear; a non-integer scale) raised to Resize-11: ONNX Runtime's output of the
// written model (weights-only quantized 1x1 Conv after it) against its output of the original.
TEST(OrtShapesUpsample, ResizeSamplesThePointsUpsampleDid) {
  for (int64_t opset : {7, 9})
    for (const std::string mode : {"nearest", "linear"}) {
      const std::string up = "Upsample <mode = \"" + mode + "\"" + (opset < 9 ? ", scales = [1.0, 1.0, 2.0, 1.5]> (x)" : "> (x, scales)");
      onnx::ModelProto m = parse_text_model("<ir_version: 4, opset_import: [\"\" : " + std::to_string(opset) +
                                            "]>\nup (float[1,2,5,7] x) => (float[1,3,10,10] y) {\n  u = " + up +
                                            "\n  y = Conv(u, w)\n}\n");
      add_initializer(m, "w", random_tensor({3, 2, 1, 1}, 51));
      if (opset >= 9) add_initializer(m, "scales", Tensor::from_vector<float>({1.0f, 1.0f, 2.0f, 1.5f}, {4}));
      const fs::path dir = fresh_dir() / (std::to_string(opset) + mode);
      fs::create_directories(dir);
      write_model(m, dir / "up.onnx");
      RunResult r = run_quantize("'" + (dir / "up.onnx").string() + "' --mode dynamic -q -o '" + (dir / "q.onnx").string() + "'");
      ASSERT_EQ(r.exit_code, 0) << r.err;
      onnx::ModelProto q;
      ASSERT_TRUE(q.ParseFromString(read_bytes(dir / "q.onnx")));
      int resizes = 0;
      for (const auto& n : q.graph().node()) resizes += n.op_type() == "Resize";
      EXPECT_EQ(resizes, 1) << opset << mode;
      const exec::TensorMap inputs{{"x", random_tensor({1, 2, 5, 7}, 52)}};
      const OrtRun want = ort_run(m, inputs, dir / "fp32"), got = ort_run(q, inputs, dir / "q"),
                   plain = ort_run(q, inputs, dir / "plain", {"disabled", {}});
      ASSERT_TRUE(want.ok && got.ok && plain.ok) << want.error << got.error << plain.error;
      exec::ExecOptions one_thread;
      one_thread.threads = 1;
      const Graph qg = build_graph(q);
      const Tensor mine = exec::Executor(qg, one_thread).run(inputs).at("y");
      const double vs_fp32 = max_rel_diff(got.outputs.at("y"), want.outputs.at("y"));
      const double vs_ort = max_rel_diff(mine, plain.outputs.at("y"));
      std::printf("[interop] upsample opset %lld %-7s: vs FP32 %.2e, executor vs ONNX Runtime %.2e\n", static_cast<long long>(opset),
                  mode.c_str(), vs_fp32, vs_ort);
      EXPECT_LE(vs_fp32, kDynamicRel) << opset << " " << mode;
      EXPECT_LE(vs_ort, kExecutorFloatTol) << opset << " " << mode;
    }
}
