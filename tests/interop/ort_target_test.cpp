// SPDX-License-Identifier: Apache-2.0
// Deployment targets in ONNX Runtime, on the bundled Fashion-MNIST CNN (models/fmnist_cnn.onnx: Conv ×5,
// Gemm ×2, a residual Add; calibration/fmnist; the first kSamples images of models/fmnist_test):
//   --target tensorrt: every Q/DQ int8 with zero point 0, no int32 bias DequantizeLinear, the target's
//     check clean, logits cosine with FP32 in ONNX Runtime >= kMinCosine;
//   --activation-type int8 (ort-cpu): every Conv/Gemm an integer kernel in the graph ONNX Runtime runs
//     (session option optimizedModelFilePath, level "extended");
//   --target ort-cpu-novnni: uint8 weights, and ONNX Runtime's integer kernels with its default session
//     options (no x64quantprecision) give the Q/DQ arithmetic (the unfused run) on any CPU, those
//     without VNNI included (ort_util.h ort_u8s8_saturates).
#include <gtest/gtest.h>

#include <cstring>

#include "ort_util.h"
#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/target.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;
using namespace ptq::test;

namespace {

constexpr double kMinCosine = 0.99;  // the bar for TensorRT's int8 symmetric dialect
constexpr int64_t kSamples = 16;
constexpr int kWeighted = 7;         // Conv ×5 + Gemm ×2
// Logits of ONNX Runtime's integer kernels against its unfused run of the same Q/DQ model: they
// requantize with fixed-point multipliers and may land a step apart (measured 1.0000000 on an AVX2 CPU;
// with int8 weights, --target ort-cpu, on the same CPU, saturating: 0.9954).
constexpr double kFusedVsQdqCosine = 0.99995;

const fs::path kSource = PTQ_SOURCE_DIR;
std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Quantizes the bundled CNN with `flags`; returns the written model (fails the test on a non-zero exit).
onnx::ModelProto quantize_cnn(const std::string& flags, const fs::path& out) {
  RunResult r = run_quantize(q(kSource / "models/fmnist_cnn.onnx") + " --calib " + q(kSource / "calibration/fmnist") +
                             " --eval-samples 0 -q " + flags + " -o " + q(out));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return onnx_io::load_model(out).proto;
}

exec::TensorMap first_images() {
  Tensor all = read_npy(kSource / "models/fmnist_test/input.npy");
  Shape shape = all.shape();
  shape[0] = kSamples;
  Tensor x(DType::Float32, shape);
  std::memcpy(x.data<float>(), all.data<float>(), static_cast<size_t>(x.numel()) * sizeof(float));
  return {{"input", x}};
}

const onnx::TensorProto* initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

}  // namespace

TEST(OrtTarget, TensorRtIsInt8SymmetricWithFloatBiasAndCloseToFp32) {
  const fs::path dir = fresh_dir();
  onnx::ModelProto m = quantize_cnn("--target tensorrt", dir / "trt.onnx");
  int qdq = 0;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "QuantizeLinear" && n.op_type() != "DequantizeLinear") continue;
    ++qdq;
    EXPECT_EQ(n.domain(), "") << n.name();
    ASSERT_GE(n.input_size(), 3) << n.name() << ": no zero point (an int32 bias DQ?)";
    const onnx::TensorProto* zp = initializer(m, n.input(2));
    ASSERT_NE(zp, nullptr) << n.name();
    EXPECT_EQ(zp->data_type(), onnx::TensorProto::INT8) << n.name();
    Tensor z = onnx_io::tensor_from_proto(*zp);
    for (int64_t i = 0; i < z.numel(); ++i) {
      EXPECT_EQ(z.data<int8_t>()[i], 0) << n.name();
    }
    const onnx::TensorProto* x = initializer(m, n.input(0));
    EXPECT_TRUE(x == nullptr || x->data_type() != onnx::TensorProto::INT32) << n.name() << ": int32 (bias) DequantizeLinear";
  }
  EXPECT_GT(qdq, 2 * kWeighted);
  EXPECT_TRUE(rewrite::check_target(m, rewrite::find_target("tensorrt")).empty());

  exec::TensorMap inputs = first_images();
  OrtRun fp32 = ort_run(onnx_io::load_model(kSource / "models/fmnist_cnn.onnx").proto, inputs, dir / "fp32");
  OrtRun trt = ort_run(m, inputs, dir / "trt");
  ASSERT_TRUE(fp32.ok && trt.ok) << fp32.error << trt.error;
  const double cos = cosine(fp32.outputs.at("logits"), trt.outputs.at("logits"));
  std::printf("[target] tensorrt logits cosine vs FP32 %.6f\n", cos);
  EXPECT_GE(cos, kMinCosine);
}

TEST(OrtTarget, Int8ActivationsGiveEveryConvAndGemmAnIntegerKernel) {
  const fs::path dir = fresh_dir();
  onnx::ModelProto m = quantize_cnn("--activation-type int8", dir / "s8.onnx");
  OrtOptions o;
  o.level = "extended";
  o.optimized = dir / "optimized.onnx";
  OrtRun run = ort_run(m, first_images(), dir / "s8", o);
  ASSERT_TRUE(run.ok) << run.error;
  int integer = 0, floating = 0;
  const onnx::ModelProto optimized = onnx_io::load_model(o.optimized).proto;
  for (const auto& n : optimized.graph().node()) {
    integer += n.op_type() == "QLinearConv" || n.op_type() == "QGemm" || n.op_type() == "QLinearMatMul";
    floating += n.op_type() == "Conv" || n.op_type() == "Gemm" || n.op_type() == "MatMul";
  }
  std::printf("[target] int8 activations: %d integer kernels, %d float\n", integer, floating);
  EXPECT_EQ(integer, kWeighted);
  EXPECT_EQ(floating, 0);
}

TEST(OrtTarget, NoVnniTargetRunsAsItsQdqArithmeticWithDefaultSessionOptions) {
  const fs::path dir = fresh_dir();
  onnx::ModelProto m = quantize_cnn("--target ort-cpu-novnni", dir / "nv.onnx");
  EXPECT_TRUE(rewrite::check_target(m, rewrite::find_target("ort-cpu-novnni")).empty());
  int uint8_weights = 0;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "DequantizeLinear") continue;
    const onnx::TensorProto* w = initializer(m, n.input(0));
    if (!w || w->data_type() == onnx::TensorProto::INT32) continue;
    EXPECT_EQ(w->data_type(), onnx::TensorProto::UINT8) << n.name() << ": a weight that is not uint8";
    uint8_weights += w->data_type() == onnx::TensorProto::UINT8;
  }
  EXPECT_EQ(uint8_weights, kWeighted);

  exec::TensorMap inputs = first_images();
  OrtRun fused = ort_run(m, inputs, dir / "all", {"all", {}, false});
  OrtRun unfused = ort_run(m, inputs, dir / "disabled", {"disabled", {}, false});
  ASSERT_TRUE(fused.ok && unfused.ok) << fused.error << unfused.error;
  const double cos = cosine(fused.outputs.at("logits"), unfused.outputs.at("logits"));
  std::printf("[target] ort-cpu-novnni logits, integer kernels vs Q/DQ arithmetic: cosine %.7f%s\n", cos,
              ort_u8s8_saturates() ? " (a CPU without VNNI)" : "");
  EXPECT_GE(cos, kFusedVsQdqCosine);
}
