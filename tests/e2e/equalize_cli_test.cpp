// SPDX-License-Identifier: Apache-2.0
// --equalize through the CLI: the report's counts match the pass's log line (JSON and text), and it is
// refused where it cannot apply (dynamic mode, without --calib, with --load-table, `quantize calibrate`).
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
