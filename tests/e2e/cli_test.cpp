// SPDX-License-Identifier: Apache-2.0
// The `quantize` binary: exit codes (0 ok, 1 error, 2 usage) and `inspect` output.
#include <nlohmann/json.hpp>

#include "testutil.h"

using namespace ptq;

namespace {
std::filesystem::path write_known_model() {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13, "com.microsoft" : 1]>
known (float[N,4] x) => (float[N,3] y) {
  h = MatMul(x, w)
  a = Add(h, b)
  c = Constant <value = float[3] {1.0, 1.0, 1.0}> ()
  y = Mul(a, c)
}
)");
  test::add_initializer(m, "w", test::random_tensor({4, 3}, 1));
  test::add_initializer(m, "b", test::random_tensor({3}, 2));
  auto path = test::fresh_dir() / "known.onnx";
  test::write_model(m, path);
  return path;
}
}  // namespace

TEST(Cli, VersionAndHelpExitZero) {
  auto r = test::run_quantize("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("quantize (ptq)"), std::string::npos);
  r = test::run_quantize("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("Examples:"), std::string::npos);
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(test::run_quantize("inspect").exit_code, 2);
  EXPECT_EQ(test::run_quantize("inspect m.onnx --no-such-flag").exit_code, 2);
  EXPECT_EQ(test::run_quantize("frobnicate").exit_code, 2);
}

TEST(Cli, BadModelExitsOneWithOneLine) {
  auto r = test::run_quantize("inspect /nonexistent/model.onnx");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: /nonexistent/model.onnx: no such file\n");
  EXPECT_TRUE(r.out.empty());
}

TEST(Cli, InspectText) {
  auto path = write_known_model();
  auto r = test::run_quantize("inspect " + path.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("IR version: 8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("x  float32 [N,4]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nodes: 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: 18 in 3 tensors"), std::string::npos) << r.out;
}

TEST(Cli, InspectJson) {
  auto path = write_known_model();
  auto r = test::run_quantize("inspect --json " + path.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ir_version"], 8);
  EXPECT_EQ(j["opsets"]["ai.onnx"], 13);
  EXPECT_EQ(j["opsets"]["com.microsoft"], 1);
  EXPECT_EQ(j["inputs"][0]["name"], "x");
  EXPECT_EQ(j["inputs"][0]["shape"][0], "N");
  EXPECT_EQ(j["inputs"][0]["shape"][1], 4);
  EXPECT_EQ(j["op_counts"]["MatMul"], 1);
  EXPECT_EQ(j["op_counts"]["Constant"], 1);
  EXPECT_EQ(j["node_count"], 4);
  EXPECT_EQ(j["parameters"]["params"], 12 + 3 + 3);
  EXPECT_EQ(j["parameters_by_dtype"]["float32"]["bytes"], 18 * 4);
  EXPECT_EQ(j["weights_stored_in"]["initializer"]["tensors"], 2);
  EXPECT_EQ(j["weights_stored_in"]["Constant"]["tensors"], 1);
}
