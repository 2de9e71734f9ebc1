// SPDX-License-Identifier: Apache-2.0
// `quantize eval`: JSON numbers against a direct computation, errors and exit codes.
#include <nlohmann/json.hpp>

#include "ptq/ir/npy.h"
#include "testutil.h"

using namespace ptq;

using test::write_scaled_model;

TEST(EvalCli, JsonReportsAgreementAndAccuracy) {
  auto dir = test::fresh_dir();
  write_scaled_model(dir / "a.onnx", {1, 1, 1});
  write_scaled_model(dir / "b.onnx", {1, 1, 3});
  // One sample, batch of 2 rows: row 0 argmax 0 in both; row 1 argmax 1 in a, 2 in b.
  std::filesystem::create_directories(dir / "data");
  write_npy(dir / "data" / "x.npy", Tensor::from_vector<float>({5, 1, 1, 0, 2, 1}, {2, 3}));
  write_npy(dir / "labels.npy", Tensor::from_vector<int64_t>({0, 1}, {2}));
  auto r = test::run_quantize("eval " + (dir / "a.onnx").string() + " " + (dir / "b.onnx").string() + " --data " +
                              (dir / "data").string() + " --labels " + (dir / "labels.npy").string() + " --json -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["samples"], 1);
  EXPECT_EQ(j["outputs"][0]["name"], "y");
  EXPECT_DOUBLE_EQ(j["outputs"][0]["top1_agreement"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["accuracy"]["reference"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["accuracy"]["quantized"].get<double>(), 0.5);
  // a = [5,1,1,0,2,1], b = [5,1,3,0,2,3]: Σa² = 32, Σ(a-b)² = 8 → SNR = 10·log10(4).
  EXPECT_NEAR(j["outputs"][0]["snr_db"].get<double>(), 10 * std::log10(4.0), 1e-9);
}

// -q: nothing on stderr when the models are compared without a gate (the table is not printed).
TEST(EvalCli, QuietPrintsNothing) {
  auto dir = test::fresh_dir();
  write_scaled_model(dir / "a.onnx", {1, 1, 1});
  std::filesystem::create_directories(dir / "data");
  write_npy(dir / "data/x.npy", Tensor::from_vector<float>({1, 2, 3}, {1, 3}));
  const std::string args = "eval " + (dir / "a.onnx").string() + " " + (dir / "a.onnx").string() + " --data " + (dir / "data").string();
  auto loud = test::run_quantize(args);
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_NE(loud.err.find("cosine"), std::string::npos) << loud.err;
  auto quiet = test::run_quantize("-q " + args);
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
}

TEST(EvalCli, ErrorsAndUsage) {
  auto dir = test::fresh_dir();
  write_scaled_model(dir / "a.onnx", {1, 1, 1});
  EXPECT_EQ(test::run_quantize("eval " + (dir / "a.onnx").string()).exit_code, 2);
  auto r = test::run_quantize("eval " + (dir / "a.onnx").string() + " " + (dir / "a.onnx").string() + " --data " +
                              (dir / "nodata").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nodata: no such file or folder"), std::string::npos) << r.err;
}

// Per-tensor figures compare what the quantized model's readers see: a Relu the quantizer dropped (its
// range is the grid's, Q clamps) leaves the Conv writing the Relu's name unclamped; the Q/DQ pair after
// it gives the Relu's values. Every shared tensor of a healthy 8-bit model then agrees closely.
TEST(EvalCli, TensorsAreComparedAsTheirReadersSeeThem) {
  const test::ClassifierFiles f = test::write_classifier(8, 6, 5, 4, 8);
  const auto q = f.dir / "net.int8.onnx";
  auto made = test::run_quantize(f.model.string() + " --calib " + f.calib.string() + " -q -o " + q.string());
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto r = test::run_quantize("eval " + f.model.string() + " " + q.string() + " --data " + f.calib.string() + " --json -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_GE(j["tensors"].size(), 4u);
  for (const auto& t : j["tensors"]) EXPECT_GT(t["cosine"].get<double>(), 0.99) << t.dump();
}
