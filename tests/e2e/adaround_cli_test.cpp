// SPDX-License-Identifier: Apache-2.0
// `quantize --adaround` end to end on the bundled Fashion-MNIST CNN (models/fmnist_cnn.onnx,
// calibration/fmnist, labelled models/fmnist_test): the output is no further from FP32 than with nearest
// rounding (W8A8, W4A8), the report's AdaRound line and JSON, the same bytes whatever --threads,
// dynamic mode with --calib, --bias-correction alongside, and the usage errors.
#include <fstream>
#include <nlohmann/json.hpp>

#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

// Output cosine AdaRound may lose against nearest rounding on the 1000 evaluation images: none (measured
// with 300 iterations: W8A8 0.99994 -> 0.99996, W4A8 0.9842 -> 0.9992, top-1 89.0 -> 93.0 % with FP32
// 93.1 %); the slack covers float noise only.
constexpr double kCosineSlack = 1e-4;
constexpr const char* kIterations = "300";  // enough on this model, keeps the test fast

const fs::path kSource = PTQ_SOURCE_DIR;
std::string q(const fs::path& p) { return "'" + p.string() + "'"; }
std::string bundled() {
  return q(kSource / "models/fmnist_cnn.onnx") + " --calib " + q(kSource / "calibration/fmnist") + " --eval-data " +
         q(kSource / "models/fmnist_test") + " --labels " + q(kSource / "models/fmnist_test/labels.npy");
}

nlohmann::json run_json(const std::string& args) {
  auto r = test::run_quantize(args + " -q --json");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

double cosine(const nlohmann::json& j) { return j["evaluation"]["outputs"][0]["cosine"].get<double>(); }

void expect_no_worse_than_nearest(const std::string& options) {
  const fs::path dir = test::fresh_dir();
  const nlohmann::json near = run_json(bundled() + options + " -o " + q(dir / "near.onnx"));
  const nlohmann::json ada =
      run_json(bundled() + options + " --adaround " + kIterations + " -o " + q(dir / "ada.onnx"));
  ASSERT_TRUE(ada.contains("adaround")) << ada.dump();
  EXPECT_GE(cosine(ada), cosine(near) - kCosineSlack) << options;
  const nlohmann::json& a = ada["adaround"];
  EXPECT_EQ(a["layers"].size(), 7u);  // 5 Conv + 2 Gemm
  EXPECT_EQ(a["iterations"], 300);
  EXPECT_LT(a["error"].get<double>(), a["error_nearest"].get<double>());
  EXPECT_FALSE(near.contains("adaround"));
}

}  // namespace

TEST(AdaRoundCli, NoFurtherFromFp32ThanNearestW8A8) { expect_no_worse_than_nearest(""); }

TEST(AdaRoundCli, NoFurtherFromFp32ThanNearestW4A8) { expect_no_worse_than_nearest(" --weight-type int4"); }

TEST(AdaRoundCli, ReportLineAndDefaultIterations) {
  const fs::path dir = test::fresh_dir();
  // The flag without a count, after the model: the default iterations.
  auto r = test::run_quantize(q(kSource / "models/fmnist_cnn.onnx") + " --calib " + q(kSource / "calibration/fmnist") +
                              " --calib-samples 40 --adaround -o " + q(dir / "m.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("  AdaRound: 7 layers, 2000 iterations each, 40 samples"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("reconstruction error"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(weight ranges: mse)"), std::string::npos) << r.err;  // AdaRound's default grid
}

TEST(AdaRoundCli, SameBytesWhateverTheThreads) {
  const fs::path dir = test::fresh_dir();
  const std::string args = q(kSource / "models/fmnist_cnn.onnx") + " --calib " + q(kSource / "calibration/fmnist") +
                           " --calib-samples 60 --eval-samples 0 --adaround 100 -q";
  ASSERT_EQ(test::run_quantize(args + " --threads 1 -o " + q(dir / "t1.onnx")).exit_code, 0);
  ASSERT_EQ(test::run_quantize(args + " --threads 3 -o " + q(dir / "t3.onnx")).exit_code, 0);
  EXPECT_EQ(test::read_bytes(dir / "t1.onnx"), test::read_bytes(dir / "t3.onnx"));
}

TEST(AdaRoundCli, DynamicModeAndBiasCorrection) {
  const fs::path dir = test::fresh_dir();
  const nlohmann::json dyn = run_json(bundled() + " --mode dynamic --adaround 100 -o " + q(dir / "d.onnx"));
  EXPECT_EQ(dyn["adaround"]["layers"].size(), 7u);
  EXPECT_EQ(dyn["weight_range"], "mse");
  const nlohmann::json mm = run_json(bundled() + " --mode dynamic --adaround 100 --weight-range minmax -o " + q(dir / "m.onnx"));
  EXPECT_EQ(mm["weight_range"], "minmax");  // an explicit choice stands
  const nlohmann::json bc = run_json(bundled() + " --adaround 100 --bias-correction -o " + q(dir / "b.onnx"));
  EXPECT_EQ(bc["adaround"]["layers"].size(), 7u);
  EXPECT_EQ(bc["adaround"]["biases_corrected"], 7);  // every layer has a bias of its own
  EXPECT_EQ(bc["nodes"]["biases_corrected"], 0);     // the separate pass finds nothing left to correct
}

TEST(AdaRoundCli, ScaleSearchScalesInTheModelAndTheSavedTable) {
  // The scales AdaRound's scale search chose are the ones the written model dequantizes with, and the
  // ones --table saves; some differ from the calibrated ones (without AdaRound).
  const fs::path dir = test::fresh_dir();
  const std::string args = q(kSource / "models/fmnist_cnn.onnx") + " --calib " + q(kSource / "calibration/fmnist") +
                           " --calib-samples 60 --eval-samples 0 --weight-type int4 --weight-range mse -q";
  ASSERT_EQ(test::run_quantize(args + " --adaround 100 --table " + q(dir / "a.json") + " -o " + q(dir / "a.onnx")).exit_code, 0);
  ASSERT_EQ(test::run_quantize(args + " --table " + q(dir / "n.json") + " -o " + q(dir / "n.onnx")).exit_code, 0);
  const nlohmann::json ta = nlohmann::json::parse(std::ifstream(dir / "a.json"));
  const nlohmann::json tn = nlohmann::json::parse(std::ifstream(dir / "n.json"));
  const onnx::ModelProto m = onnx_io::load_model(dir / "a.onnx").proto;
  size_t weights = 0, moved = 0;
  for (const auto& t : m.graph().initializer()) {
    if (t.name().size() < 6 || t.name().substr(t.name().size() - 6) != "_scale") continue;
    const std::string w = t.name().substr(0, t.name().size() - 6);
    if (!ta["tensors"].contains(w) || ta["tensors"][w]["scale"].size() < 2) continue;  // per-channel weights
    const std::vector<float> stored = onnx_io::tensor_from_proto(t).to_vector<float>();
    const std::vector<float> saved = ta["tensors"][w]["scale"].get<std::vector<float>>();
    EXPECT_EQ(stored, saved) << w;
    moved += saved != tn["tensors"][w]["scale"].get<std::vector<float>>();
    ++weights;
  }
  EXPECT_EQ(weights, 7u);  // 5 Conv + 2 Gemm
  EXPECT_GT(moved, 0u);
}

TEST(AdaRoundCli, UsageErrors) {
  const fs::path dir = test::fresh_dir();
  const std::string model = q(kSource / "models/fmnist_cnn.onnx"), out = " -o " + q(dir / "x.onnx");
  auto expect = [&](const std::string& args, const std::string& fragment) {
    auto r = test::run_quantize(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\n" << r.err;
  };
  expect(model + " --mode dynamic --adaround" + out, "--adaround needs calibration data (--calib DIR)");
  const fs::path table = dir / "t.json";
  ASSERT_EQ(test::run_quantize("calibrate " + model + " --calib " + q(kSource / "calibration/fmnist") +
                               " --calib-samples 20 -q --table " + q(table))
                .exit_code,
            0);
  expect(model + " --load-table " + q(table) + " --adaround" + out, "--adaround needs calibration data (--calib DIR)");
  expect(model + " --calib " + q(kSource / "calibration/fmnist") + " --adaround 0" + out,
         "--adaround takes a positive number");
  expect(model + " --calib " + q(kSource / "calibration/fmnist") +
             " --mode dynamic --dynamic-format integer --adaround" + out,
         "--adaround cannot be combined with --dynamic-format integer");
  EXPECT_FALSE(fs::exists(dir / "x.onnx"));
}
