// SPDX-License-Identifier: Apache-2.0
// --split-channels through the CLI, judged by ONNX Runtime: the stem model (testutil.h: channels 300x
// apart, read by a depthwise Conv) quantized with and without splitting; ONNX Runtime runs the split
// model (its Concat of differently scaled groups, its Gather) with every Conv an integer kernel, gives
// the outputs of ptq's executor for the same file, and is far closer to FP32 than the plain model.
#include <nlohmann/json.hpp>

#include "ort_util.h"
#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;
using namespace ptq::test;

namespace {
constexpr double kSplitCosine = 0.995;      // the split 8-bit model against FP32 (ptq's tests: 0.9991)
constexpr double kErrorRatio = 10.0;        // 1 − cosine of the plain model over the split one's (measured ~50)
constexpr double kSameArithmetic = 0.9999;  // ONNX Runtime's integer kernels vs ptq's Q/DQ arithmetic
}  // namespace

TEST(OrtSplit, SplitStemRunsIntegerInOnnxRuntimeAndIsCloserToFp32) {
  const fs::path dir = fresh_dir();
  write_model(depthwise_stem(), dir / "stem.onnx");
  const auto calib = stem_samples(8, 100);
  for (size_t i = 0; i < calib.size(); ++i) {
    fs::create_directories(dir / "calib" / std::to_string(i));
    write_npy(dir / "calib" / std::to_string(i) / "x.npy", calib[i].at("x"));
  }
  const std::string base = "'" + (dir / "stem.onnx").string() + "' --calib '" + (dir / "calib").string() +
                           "' --method minmax --eval-samples 0 -q --json";
  RunResult plain = run_quantize(base + " -o '" + (dir / "plain.onnx").string() + "'");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  RunResult split = run_quantize(base + " --split-channels -o '" + (dir / "split.onnx").string() + "'");
  ASSERT_EQ(split.exit_code, 0) << split.err;
  const auto j = nlohmann::json::parse(split.out);
  EXPECT_EQ(j["nodes"]["split_convs"], 1);
  EXPECT_EQ(j["nodes"]["split_groups"], 2);

  OrtOptions fused;
  fused.optimized = dir / "split_optimized.onnx";
  double worst_split = 1.0, worst_plain = 1.0;
  for (const auto& s : stem_samples(4, 500)) {
    const OrtRun fp32 = ort_run_file(dir / "stem.onnx", s, dir / "run_fp32");
    const OrtRun p = ort_run_file(dir / "plain.onnx", s, dir / "run_plain");
    const OrtRun q = ort_run_file(dir / "split.onnx", s, dir / "run_split", fused);
    ASSERT_TRUE(fp32.ok && p.ok) << fp32.error << p.error;
    ASSERT_TRUE(q.ok) << "ONNX Runtime rejected the split model: " << q.error;
    worst_plain = std::min(worst_plain, cosine(p.outputs.at("out"), fp32.outputs.at("out")));
    worst_split = std::min(worst_split, cosine(q.outputs.at("out"), fp32.outputs.at("out")));
    exec::ExecOptions one;
    one.threads = 1;
    const exec::TensorMap ours = exec::Executor(build_graph(onnx_io::load_model(dir / "split.onnx").proto), one).run(s);
    EXPECT_GE(cosine(q.outputs.at("out"), ours.at("out")), kSameArithmetic);
  }
  std::printf("[interop] split stem: worst output cosine %.6f (plain %.6f) in ONNX Runtime\n", worst_split,
              worst_plain);
  EXPECT_GE(worst_split, kSplitCosine);
  EXPECT_GT(1.0 - worst_plain, kErrorRatio * (1.0 - worst_split));
  // Every Conv of the split model (two stems, two depthwise, the last one) became an integer kernel.
  int qconv = 0, conv = 0;
  const onnx_io::LoadedModel optimized = onnx_io::load_model(fused.optimized);
  for (const auto& n : optimized.proto.graph().node()) {
    qconv += n.op_type() == "QLinearConv";
    conv += n.op_type() == "Conv" || n.op_type() == "FusedConv";
  }
  EXPECT_EQ(qconv, 5);
  EXPECT_EQ(conv, 0);
}
