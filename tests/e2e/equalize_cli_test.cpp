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

const std::string kModel = source("models/fmnist_cnn.onnx");
const std::string kCalib = " --calib " + source("calibration/fmnist") + " --calib-samples 16 ";

// `option` (a float pass measured on the calibration samples) is refused, nothing written, in dynamic
// mode, with --load-table and in `quantize calibrate`.
void expect_refused_where_it_cannot_apply(const std::string& option, const std::filesystem::path& dir) {
  auto r = test::run_quantize(kModel + " --mode dynamic " + option + " -o " + (dir / "b.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(option + " applies to static mode"), std::string::npos) << r.err;
  r = test::run_quantize(kModel + " " + option + " --load-table " + (dir / "none.json").string() + " -o " + (dir / "c.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_quantize("calibrate " + kModel + kCalib + option + " --table " + (dir / "t.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(option + " applies to the main command only"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "b.onnx"));
  EXPECT_FALSE(std::filesystem::exists(dir / "c.onnx"));
}

}  // namespace

TEST(EqualizeCli, ReportsWhatItEqualizedAndRefusesWhereItCannotApply) {
  const auto dir = test::fresh_dir();
  auto r = test::run_quantize(kModel + kCalib + "--eval-samples 2 --equalize --json -o " + (dir / "a.onnx").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string line = "channel equalization: " + std::to_string(j["nodes"]["equalized_outputs"].get<int>()) +
                           " Conv output(s) equalized and restored in float, " + std::to_string(j["nodes"]["equalized_inputs"].get<int>()) +
                           " Conv input(s) equalized";
  EXPECT_NE(r.err.find(line), std::string::npos) << r.err;
  expect_refused_where_it_cannot_apply("--equalize", dir);
}

TEST(SplitChannelsCli, SaysWhatItSplitAndRefusesWhereItCannotApply) {
  const auto dir = test::fresh_dir();
  auto r = test::run_quantize(kModel + kCalib + "--eval-samples 0 --split-channels --json -o " + (dir / "a.onnx").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("channel splitting: no Conv feeds a depthwise Conv"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["nodes"]["split_convs"], 0);
  expect_refused_where_it_cannot_apply("--split-channels", dir);
}
