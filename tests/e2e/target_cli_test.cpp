// SPDX-License-Identifier: Apache-2.0
// `quantize --target X` and `quantize check MODEL --target X` end to end on the bundled Fashion-MNIST CNN
// (models/fmnist_cnn.onnx, calibration/fmnist): every target's output passes its own check (exit 0), a
// model breaking rules exits 3 with one line per (node, rule) (and --json), flags contradicting a
// target's rule are usage errors (exit 2) and write nothing.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "ptq/pipeline/quantize.h"
#include "ptq/rewrite/target.h"
#include "ptq/util/error.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

const fs::path kSource = PTQ_SOURCE_DIR;
std::string q(const fs::path& p) { return "'" + p.string() + "'"; }
std::string cnn() { return q(kSource / "models/fmnist_cnn.onnx") + " --calib " + q(kSource / "calibration/fmnist") + " --eval-samples 0 -q"; }

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST(TargetCli, EveryTargetsOutputPassesItsOwnCheck) {
  const fs::path dir = test::fresh_dir();
  for (const auto& t : rewrite::target_table()) {
    const fs::path out = dir / (std::string(t.name) + ".onnx");
    test::RunResult r = test::run_quantize(cnn() + " --target " + t.name + " --json -o " + q(out));
    ASSERT_EQ(r.exit_code, 0) << t.name << ": " << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["target"], t.name);  // the report names the target checked
    test::RunResult c = test::run_quantize("check " + q(out) + " --target " + t.name);
    EXPECT_EQ(c.exit_code, 0) << t.name << ": " << c.out << c.err;
    EXPECT_EQ(c.out, "") << t.name;
  }
}

TEST(TargetCli, CheckListsEveryBrokenRuleAndExits3) {
  const fs::path dir = test::fresh_dir();
  ASSERT_EQ(test::run_quantize(cnn() + " -o " + q(dir / "u8.onnx")).exit_code, 0);  // uint8 activations, int32 biases
  test::RunResult c = test::run_quantize("check " + q(dir / "u8.onnx") + " --target tensorrt");
  EXPECT_EQ(c.exit_code, 3) << c.err;
  EXPECT_NE(c.out.find(": activation-type: "), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(": bias-int32: "), std::string::npos) << c.out;
  test::RunResult j = test::run_quantize("check " + q(dir / "u8.onnx") + " --target tensorrt --json");
  EXPECT_EQ(j.exit_code, 3);
  nlohmann::json doc = nlohmann::json::parse(j.out);
  EXPECT_EQ(doc["schema"], 1);
  EXPECT_FALSE(doc["ok"].get<bool>());
  EXPECT_EQ(static_cast<int>(doc["violations"].size()), count_lines(c.out));
  int biases = 0;
  for (const auto& v : doc["violations"]) biases += v["rule"] == "bias-int32";
  EXPECT_EQ(biases, 7);  // Conv ×5 + Gemm ×2
}

TEST(TargetCli, FlagsBreakingATargetRuleAreUsageErrors) {
  const fs::path out = test::fresh_dir() / "x.onnx";
  test::RunResult r = test::run_quantize(cnn() + " --target tensorrt --activation-type uint8 -o " + q(out));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: --activation-type uint8 contradicts --target tensorrt: it takes int8 activations\n");
  EXPECT_FALSE(fs::exists(out));
  r = test::run_quantize(cnn() + " --target tensorrt --target-cosine 0.999 --fallback int16 -o " + q(out));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = test::run_quantize(cnn() + " --target tpu -o " + q(out));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("expected one of: ort-cpu, ort-cpu-novnni, tensorrt, qnn, xnnpack, nnapi, openvino"), std::string::npos)
      << r.err;
}

TEST(TargetCli, ExplicitFlagsOverrideTheTargetsDefaults) {
  const fs::path dir = test::fresh_dir();
  test::RunResult r = test::run_quantize(cnn() + " --target qnn --activation-type uint16 -o " + q(dir / "a16.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::run_quantize("check " + q(dir / "a16.onnx") + " --target qnn").exit_code, 0);
  test::RunResult c = test::run_quantize("check " + q(dir / "a16.onnx") + " --target nnapi");
  EXPECT_EQ(c.exit_code, 3);
  EXPECT_NE(c.out.find("uint16 activation; nnapi takes uint8"), std::string::npos) << c.out;
}

// The main command's own check: a job whose options break its target (a library caller that set the
// target but not its options) fails before writing anything.
TEST(TargetCli, AnOutputBreakingItsTargetIsNotWritten) {
  pipeline::QuantizeJob job;
  job.model = (kSource / "models/fmnist_cnn.onnx").string();
  job.calib_dir = (kSource / "calibration/fmnist").string();
  job.output = (test::fresh_dir() / "x.onnx").string();
  job.eval_samples = 0;
  job.calib.progress = false;
  job.target = "tensorrt";  // job.quant keeps uint8 activations and int32 biases
  std::string error = "(no error)";
  try {
    pipeline::run_quantize(job);
  } catch (const UnsupportedError& e) {
    error = e.what();
  }
  EXPECT_EQ(error.rfind("the quantized model breaks 41 rule(s) of --target tensorrt, e.g. node '", 0), 0u) << error;
  EXPECT_NE(error.find("nothing was written to " + job.output), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(job.output));
}

// Weights the checker must recognize as weights: LayerNormalization's γ, Gather tables and a blocked
// 4-bit table read through Slice (the bundled tiny LM, weight-only int4 blocks).
TEST(TargetCli, TransformerWeightsPassTheirTargetsCheck) {
  const fs::path dir = test::fresh_dir();
  const std::string lm = q(kSource / "models/lm_tiny.onnx") + " --eval-samples 0 -q";
  test::RunResult r = test::run_quantize(lm + " --mode dynamic --weight-type int4 --block-size 32 --target openvino -o " + q(dir / "w4.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::run_quantize("check " + q(dir / "w4.onnx") + " --target openvino").exit_code, 0);
  r = test::run_quantize(lm + " --calib " + q(kSource / "calibration/lm_tiny") + " --target nnapi -o " + q(dir / "a8.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::run_quantize("check " + q(dir / "a8.onnx") + " --target nnapi").exit_code, 0);
}
