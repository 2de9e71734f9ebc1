// SPDX-License-Identifier: Apache-2.0
// The CLI on the bundled transformers: the report counts shape arithmetic apart and pattern members as
// quantized (ViT); --smooth-quant without a value means alpha 0.5, with one takes it, and is refused
// where it cannot apply (dynamic mode, `quantize calibrate`).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil.h"

using namespace ptq;

namespace {

std::string source(const std::string& rel) { return (std::filesystem::path(PTQ_SOURCE_DIR) / rel).string(); }

}  // namespace

TEST(TransformerCli, VitReportCountsShapeArithmeticApart) {
  const auto out = test::fresh_dir() / "vit.onnx";
  auto r = test::run_quantize(source("models/vit_tiny.onnx") + " --calib " + source("calibration/fmnist") +
                              " --calib-samples 32 --eval-samples 4 --json -q -o " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // 98 float compute nodes, all quantized (15 of them Erf-GELU members); 89 shape-arithmetic nodes.
  EXPECT_EQ(j["nodes"]["quantized"], 98);
  EXPECT_EQ(j["nodes"]["in_patterns"], 15);
  EXPECT_EQ(j["nodes"]["float"], 0);
  EXPECT_EQ(j["nodes"]["shape_arithmetic"], 89);
}

TEST(TransformerCli, SmoothQuantAlphaDefaultValueAndRefusals) {
  const auto dir = test::fresh_dir();
  const std::string base = source("models/lm_tiny.onnx") + " --calib " + source("calibration/lm_tiny") + " --calib-samples 16 --eval-samples 2 ";
  auto r = test::run_quantize(base + "-o " + (dir / "a.onnx").string() + " --smooth-quant");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("SmoothQuant (alpha 0.5): 9 activations smoothed, 7 folded into their producer, 2 through a Mul"), std::string::npos)
      << r.err;
  r = test::run_quantize(base + "-o " + (dir / "b.onnx").string() + " --smooth-quant 0.8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("SmoothQuant (alpha 0.8)"), std::string::npos) << r.err;
  r = test::run_quantize(base + "-o " + (dir / "c.onnx").string() + " --smooth-quant 1.5");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("alpha 1.5 is outside [0, 1]"), std::string::npos) << r.err;
  r = test::run_quantize(source("models/lm_tiny.onnx") + " --mode dynamic --smooth-quant -o " + (dir / "d.onnx").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--smooth-quant applies to static mode"), std::string::npos) << r.err;
  r = test::run_quantize("calibrate " + source("models/lm_tiny.onnx") + " --calib " + source("calibration/lm_tiny") + " --smooth-quant --table " +
                         (dir / "t.json").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--smooth-quant applies to the main command only"), std::string::npos) << r.err;
}
