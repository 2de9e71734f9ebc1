// SPDX-License-Identifier: Apache-2.0
// A PyTorch QAT export (models/qat_cnn.onnx, tools/make_qat.py: torch.ao.quantization.prepare_qat,
// torch.onnx.export of the fake-quantized model) through the `quantize` CLI, checked in ONNX Runtime:
//   - without --calib: the weight Q/DQ pairs are folded into int8 initializers (one DequantizeLinear
//     each, no float weight left), the activation Q/DQ are kept, and ONNX Runtime's outputs match the
//     QAT model's own ONNX Runtime outputs (graph optimizations off: the same arithmetic, so only float
//     summation order may differ; with them on, both run as integer kernels);
//   - with --calib: the head Linear QAT left float is quantized as well (int8 weight), and the output
//     stays close to the QAT model's.
#include <gtest/gtest.h>

#include <cmath>

#include "ort_util.h"
#include "ptq/ir/npy.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;

namespace {

// Max |logit difference| relative to max |logit|, ONNX Runtime on the folded vs the QAT model: the same
// dequantized weights, so at most float rounding (measured 0 with optimizations off and on).
constexpr double kFoldedRel = 1e-5;
// With --calib the head Gemm is quantized too (uint8 input and output, int8 weights): one output step
// (range / 255) is about 0.4 % of the largest logit (measured: cosine 0.99998, 0.64 %).
constexpr double kCalibCosine = 0.9995;
constexpr double kCalibRel = 0.02;

const std::filesystem::path kRoot = PTQ_SOURCE_DIR;

onnx::ModelProto load(const std::filesystem::path& path) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(read_bytes(path))) << path;
  return m;
}

// 32 calibration images as one batch.
exec::TensorMap batch() {
  Tensor x(DType::Float32, {32, 1, 28, 28});
  for (int64_t i = 0; i < 32; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "calibration/fmnist/%03lld/input.npy", static_cast<long long>(i));
    const Tensor s = read_npy(kRoot / name);
    std::copy_n(s.data<float>(), 28 * 28, x.data<float>() + i * 28 * 28);
  }
  return {{"input", x}};
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  double m = 0, scale = 1e-30;
  for (int64_t i = 0; i < a.numel(); ++i) {
    m = std::max(m, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
    scale = std::max(scale, std::fabs(double(b.data<float>()[i])));
  }
  return m / scale;
}

// Inputs of the model's Conv/Gemm nodes that are DequantizeLinear outputs of int8 initializers.
int int8_weight_layers(const onnx::ModelProto& m) {
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : m.graph().initializer()) inits[t.name()] = &t;
  std::map<std::string, std::string> dq_source;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "DequantizeLinear") dq_source[n.output(0)] = n.input(0);
  int layers = 0;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "Conv" && n.op_type() != "Gemm") continue;
    auto it = dq_source.find(n.input(1));
    layers += it != dq_source.end() && inits.count(it->second) && inits[it->second]->data_type() == onnx::TensorProto::INT8;
  }
  return layers;
}

}  // namespace

TEST(OrtQat, PyTorchExportFoldsIntoInt8WeightsAndMatchesTheQatModel) {
  const auto dir = fresh_dir();
  const auto qat_path = kRoot / "models/qat_cnn.onnx";
  RunResult run = run_quantize(qat_path.string() + " -o " + (dir / "folded.onnx").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("3 QAT weights folded into integers"), std::string::npos) << run.err;
  const onnx::ModelProto qat = load(qat_path), folded = load(dir / "folded.onnx");
  EXPECT_EQ(int8_weight_layers(folded), 3);  // conv1, conv2, fc1; the head stays float
  for (const auto& n : folded.graph().node())
    for (const auto& t : folded.graph().initializer())
      EXPECT_FALSE(n.op_type() == "QuantizeLinear" && n.input(0) == t.name()) << "a weight is still quantized at run time: " << t.name();
  int activation_pairs = 0;
  for (const auto& n : folded.graph().node()) activation_pairs += n.op_type() == "QuantizeLinear";
  EXPECT_EQ(activation_pairs, 4);  // input, conv1, conv2, fc1 outputs: as exported

  const exec::TensorMap in = batch();
  for (const char* level : {"disabled", "all"}) {
    const OrtRun want = ort_run(qat, in, dir / (std::string("qat_") + level), {level, {}, false});
    const OrtRun got = ort_run(folded, in, dir / (std::string("folded_") + level), {level, {}, false});
    ASSERT_TRUE(want.ok) << want.error;
    ASSERT_TRUE(got.ok) << "ONNX Runtime rejected the folded model: " << got.error;
    const double rel = max_rel_diff(got.outputs.at("logits"), want.outputs.at("logits"));
    std::printf("[interop] qat folded (%s): max |diff| / max |logit| %.2e\n", level, rel);
    EXPECT_LE(rel, kFoldedRel) << level;
  }
}

TEST(OrtQat, CalibrationQuantizesTheLayersQatLeftFloat) {
  const auto dir = fresh_dir();
  const auto qat_path = kRoot / "models/qat_cnn.onnx";
  RunResult run = run_quantize(qat_path.string() + " --calib " + (kRoot / "calibration/fmnist").string() + " -o " +
                               (dir / "q.onnx").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const onnx::ModelProto qat = load(qat_path), q = load(dir / "q.onnx");
  EXPECT_EQ(int8_weight_layers(q), 4);  // the head Gemm too
  // Quantizing the result again: nothing left to fold or quantize.
  RunResult again = run_quantize((dir / "q.onnx").string() + " --calib " + (kRoot / "calibration/fmnist").string() + " -o " +
                                 (dir / "again.onnx").string());
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("q.onnx: the model is already quantized"), std::string::npos) << again.err;
  const exec::TensorMap in = batch();
  // Where ONNX Runtime's u8 x s8 kernels saturate (ort_util.h) and x64_precision cannot load the QAT
  // export, both models run unfused: the Q/DQ arithmetic itself.
  const OrtOptions ort{ort_u8s8_saturates() ? "disabled" : "all", {}, false};
  const OrtRun want = ort_run(qat, in, dir / "qat", ort);
  const OrtRun got = ort_run(q, in, dir / "q", ort);
  ASSERT_TRUE(want.ok) << want.error;
  ASSERT_TRUE(got.ok) << "ONNX Runtime rejected the model: " << got.error;
  const double cos = cosine(got.outputs.at("logits"), want.outputs.at("logits"));
  const double rel = max_rel_diff(got.outputs.at("logits"), want.outputs.at("logits"));
  std::printf("[interop] qat + --calib: cosine %.6f, max |diff| / max |logit| %.2e\n", cos, rel);
  EXPECT_GE(cos, kCalibCosine);
  EXPECT_LE(rel, kCalibRel);
}
