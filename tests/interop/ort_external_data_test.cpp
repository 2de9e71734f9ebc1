// SPDX-License-Identifier: Apache-2.0
// Models quantized from external data, their weights written to "<output>.data" while the model was
// made (DataFileWriter): ONNX Runtime loads them from the files as written and gives the same outputs
// as for the same model quantized from an inline input, close to FP32.
#include "ort_util.h"
#include "ptq/ir/npy.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;
using namespace ptq::test;

namespace {
constexpr double kInt8Cosine = 0.999;  // three int8 MatMuls of a random MLP against FP32
}

TEST(OrtExternalData, QuantizedFromExternalDataRunsInOnnxRuntime) {
  const fs::path dir = fresh_dir();
  const fs::path ext = write_mlp(dir, "ext.onnx", true), mem = write_mlp(dir, "mem.onnx", false);
  const exec::TensorMap in{{"x", read_npy(dir / "calib/3/x.npy")}};
  const OrtRun fp32 = ort_run_file(mem, in, dir / "run_fp32");
  ASSERT_TRUE(fp32.ok) << fp32.error;
  for (const std::string& mode : std::vector<std::string>{"--mode dynamic", "--calib '" + (dir / "calib").string() + "'"}) {
    RunResult a = run_quantize("'" + ext.string() + "' " + mode + " -q -o '" + (dir / "a.onnx").string() + "'");
    ASSERT_EQ(a.exit_code, 0) << a.err;
    RunResult b = run_quantize("'" + mem.string() + "' " + mode + " -q -o '" + (dir / "b.onnx").string() + "'");
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ASSERT_TRUE(fs::exists(dir / "a.onnx.data")) << mode;
    const OrtRun ra = ort_run_file(dir / "a.onnx", in, dir / "run_a");
    const OrtRun rb = ort_run_file(dir / "b.onnx", in, dir / "run_b");
    ASSERT_TRUE(ra.ok) << mode << ": ONNX Runtime rejected the model written with external data: " << ra.error;
    ASSERT_TRUE(rb.ok) << rb.error;
    EXPECT_EQ(ra.outputs.at("y").to_vector<float>(), rb.outputs.at("y").to_vector<float>()) << mode;
    const double cos = cosine(ra.outputs.at("y"), fp32.outputs.at("y"));
    std::printf("[interop] external data, %s: cosine %.6f with FP32\n", mode.rfind("--mode", 0) == 0 ? "dynamic" : "static", cos);
    EXPECT_GE(cos, kInt8Cosine) << mode;
    fs::remove(dir / "a.onnx.data");
  }
}
