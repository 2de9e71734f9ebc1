// SPDX-License-Identifier: Apache-2.0
// --equalize and --split-channels through the CLI: the report's counts match the pass's log line (JSON
// and text), and they are refused where they cannot apply (dynamic mode, without --calib, with
// --load-table, `quantize calibrate`).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil.h"

using namespace ptq;

namespace {

std::string source(const std::string& rel) { return (std::filesystem::path(PTQ_SOURCE_DIR) / rel).string(); }

}  // namespace

TEST(EqualizeCli, ReportsWhatItEqualizedAndRefusesWhereItCannotApply) {
  const auto dir = test::fresh_dir();
  const std::string model = source("models/fmnist_cnn.onnx"), calib = " --calib " + source("calibration/fmnist") + " --calib-samples 16 ";
  auto r = test::run_quantize(model + calib + "--eval-samples 2 --equalize --json -o " + (dir / "a.onnx").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string line = "channel equalization: " + std::to_string(j["nodes"]["equalized_outputs"].get<int>()) +
                           " Conv output(s) equalized and restored in float, " + std::to_string(j["nodes"]["equalized_inputs"].get<int>()) +
                           " Conv input(s) equalized";
  EXPECT_NE(r.err.find(line), std::string::npos) << r.err;

  r = test::run_quantize(model + " --mode dynamic --equalize -o " + (dir / "b.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--equalize applies to static mode"), std::string::npos) << r.err;
  r = test::run_quantize(model + " --equalize --load-table " + (dir / "none.json").string() + " -o " + (dir / "c.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_quantize("calibrate " + model + calib + "--equalize --table " + (dir / "t.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--equalize applies to the main command only"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "b.onnx"));
  EXPECT_FALSE(std::filesystem::exists(dir / "c.onnx"));
}

TEST(SplitChannelsCli, SaysWhatItSplitAndRefusesWhereItCannotApply) {
  const auto dir = test::fresh_dir();
  const std::string model = source("models/fmnist_cnn.onnx"), calib = " --calib " + source("calibration/fmnist") + " --calib-samples 16 ";
  auto r = test::run_quantize(model + calib + "--eval-samples 0 --split-channels --json -o " + (dir / "a.onnx").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("channel splitting: no Conv feeds a depthwise Conv"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["nodes"]["split_convs"], 0);

  r = test::run_quantize(model + " --mode dynamic --split-channels -o " + (dir / "b.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--split-channels applies to static mode"), std::string::npos) << r.err;
  r = test::run_quantize(model + " --split-channels --load-table " + (dir / "none.json").string() + " -o " + (dir / "c.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_quantize("calibrate " + model + calib + "--split-channels --table " + (dir / "t.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--split-channels applies to the main command only"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "b.onnx"));
  EXPECT_FALSE(std::filesystem::exists(dir / "c.onnx"));
}
