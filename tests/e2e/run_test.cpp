// SPDX-License-Identifier: Apache-2.0
// `quantize run`: outputs of a small model against hand-computed values, sample sub-folders,
// timing.json, and the error paths (bad input shape, missing folder, usage errors).
#include <nlohmann/json.hpp>

#include "ptq/ir/npy.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

// y = Relu(x + b), "sum:0" = ReduceSum over axis 1 of y, with b = {1, -2, 0.5}.
fs::path write_model(const fs::path& dir) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
small (float[N,3] x) => (float[N,3] y, float[N] sum) {
  a = Add(x, b)
  y = Relu(a)
  ax = Constant <value = int64[1] {1}> ()
  sum = ReduceSum <keepdims = 0> (y, ax)
}
)");
  // The text syntax has no quoted names: rename "sum" to "sum:0" (a name that needs sanitizing).
  m.mutable_graph()->mutable_output(1)->set_name("sum:0");
  m.mutable_graph()->mutable_node(3)->set_output(0, "sum:0");
  test::add_initializer(m, "b", Tensor::from_vector<float>({1, -2, 0.5f}, {3}));
  fs::path path = dir / "small.onnx";
  test::write_model(m, path);
  return path;
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

}  // namespace

TEST(RunCommand, WritesOutputsPerSampleFolder) {
  const fs::path dir = test::fresh_dir();
  const fs::path model = write_model(dir);
  fs::create_directories(dir / "data/000");
  fs::create_directories(dir / "data/001");
  write_npy(dir / "data/000/x.npy", Tensor::from_vector<float>({1, 1, 1}, {1, 3}));
  write_npy(dir / "data/001/x.npy", Tensor::from_vector<float>({-3, 5, 2, 0, 0, 0}, {2, 3}));
  auto r = test::run_quantize("run " + q(model) + " --inputs " + q(dir / "data") + " -o " + q(dir / "out") + " --threads 1 --repeat 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Sample 000: x + b = {2, -1, 1.5} -> y = {2, 0, 1.5}, sum 3.5.
  EXPECT_EQ(read_npy(dir / "out/000/y.npy").to_vector<float>(), (std::vector<float>{2, 0, 1.5f}));
  EXPECT_EQ(read_npy(dir / "out/000/sum_0.npy").to_vector<float>(), (std::vector<float>{3.5f}));
  // Sample 001: {-2, 3, 2.5}, {1, -2, 0.5} -> y = {0, 3, 2.5}, {1, 0, 0.5}; sums 5.5, 1.5.
  Tensor y1 = read_npy(dir / "out/001/y.npy");
  EXPECT_EQ(y1.shape(), (Shape{2, 3}));
  EXPECT_EQ(y1.to_vector<float>(), (std::vector<float>{0, 3, 2.5f, 1, 0, 0.5f}));
  EXPECT_EQ(read_npy(dir / "out/001/sum_0.npy").to_vector<float>(), (std::vector<float>{5.5f, 1.5f}));
  auto timing = nlohmann::json::parse(test::read_bytes(dir / "out/timing.json"));
  EXPECT_EQ(timing["samples"], 2);
  EXPECT_EQ(timing["threads"], 1);
  EXPECT_EQ(timing["repeat"], 2);
  ASSERT_EQ(timing["per_sample"].size(), 2u);
  EXPECT_EQ(timing["per_sample"][1]["sample"], "001");
  EXPECT_GE(timing["min_ms"].get<double>(), 0.0);
  EXPECT_LE(timing["min_ms"].get<double>(), timing["mean_ms"].get<double>());
  auto index = nlohmann::json::parse(test::read_bytes(dir / "out/outputs.json"));
  EXPECT_EQ(index["y"], "y.npy");
  EXPECT_EQ(index["sum:0"], "sum_0.npy");
}

// A weight in external data (memory-mapped by run and eval, as by the main command): outputs against a
// naive product, and eval of the model against itself.
TEST(RunCommand, ExternalDataWeightsAreMapped) {
  const fs::path dir = test::fresh_dir();
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
ext (float[1,64] x) => (float[1,32] y) {
  y = MatMul(x, w)
}
)");
  const Tensor w = test::random_tensor({64, 32}, 7);  // 8 KiB: mapped, not read
  const std::string bytes(reinterpret_cast<const char*>(w.data<float>()), static_cast<size_t>(w.numel()) * sizeof(float));
  test::write_bytes(dir / "w.bin", bytes);
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(64);
  t->add_dims(32);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"location", "w.bin"}, {"offset", "0"}, {"length", std::to_string(bytes.size())}}) {
    auto* e = t->add_external_data();
    e->set_key(key);
    e->set_value(value);
  }
  test::write_model(m, dir / "ext.onnx");
  const Tensor x = test::random_tensor({1, 64}, 8);
  fs::create_directories(dir / "data");
  write_npy(dir / "data/x.npy", x);
  auto r = test::run_quantize("run " + q(dir / "ext.onnx") + " --inputs " + q(dir / "data") + " -o " + q(dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<float> y = read_npy(dir / "out/y.npy").to_vector<float>();
  ASSERT_EQ(y.size(), 32u);
  for (int n = 0; n < 32; ++n) {
    double want = 0.0;
    for (int k = 0; k < 64; ++k) want += static_cast<double>(x.data<float>()[k]) * w.data<float>()[k * 32 + n];
    EXPECT_NEAR(y[static_cast<size_t>(n)], want, 1e-4) << n;
  }
  auto e = test::run_quantize("eval " + q(dir / "ext.onnx") + " " + q(dir / "ext.onnx") + " --data " + q(dir / "data") + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(nlohmann::json::parse(e.out)["outputs"][0]["cosine"].get<double>(), 1.0);
}

TEST(RunCommand, LongOutputNamesAreShortenedWithAHash) {
  const fs::path dir = test::fresh_dir();
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
long (float[2] x) => (float[2] y) {
  y = Neg(x)
}
)");
  const std::string name(300, 'n');  // a file name of 304 bytes is too long for the file system
  m.mutable_graph()->mutable_output(0)->set_name(name);
  m.mutable_graph()->mutable_node(0)->set_output(0, name);
  test::write_model(m, dir / "long.onnx");
  fs::create_directories(dir / "one");
  write_npy(dir / "one/x.npy", Tensor::from_vector<float>({1, -2}, {2}));
  auto r = test::run_quantize("-q run " + q(dir / "long.onnx") + " --inputs " + q(dir / "one") + " -o " + q(dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto index = nlohmann::json::parse(test::read_bytes(dir / "out/outputs.json"));
  const std::string file = index[name];
  EXPECT_EQ(file.size(), 204u);  // 183 name bytes, '_', 16 hex digits, ".npy"
  EXPECT_EQ(file.substr(0, 183), name.substr(0, 183));
  EXPECT_EQ(read_npy(dir / "out" / file).to_vector<float>(), (std::vector<float>{-1, 2}));
}

TEST(RunCommand, SingleSampleFolderWritesFlat) {
  const fs::path dir = test::fresh_dir();
  const fs::path model = write_model(dir);
  fs::create_directories(dir / "one");
  write_npy(dir / "one/x.npy", Tensor::from_vector<float>({0, 2, 0}, {1, 3}));
  auto r = test::run_quantize("-q run " + q(model) + " --inputs " + q(dir / "one") + " -o " + q(dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;  // -q: no progress
  EXPECT_EQ(read_npy(dir / "out/y.npy").to_vector<float>(), (std::vector<float>{1, 0, 0.5f}));
  // Writing into the input folder is refused.
  r = test::run_quantize("run " + q(model) + " --inputs " + q(dir / "one") + " -o " + q(dir / "one"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is the input folder"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "one/y.npy"));
}

TEST(RunCommand, InputShapeMismatchNamesInputAndFile) {
  const fs::path dir = test::fresh_dir();
  const fs::path model = write_model(dir);
  fs::create_directories(dir / "bad");
  write_npy(dir / "bad/x.npy", Tensor::from_vector<float>({1, 2, 3, 4}, {1, 4}));
  auto r = test::run_quantize("run " + q(model) + " --inputs " + q(dir / "bad") + " -o " + q(dir / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find((dir / "bad/x.npy").string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("input 'x': expected shape [N,3], got [1,4]"), std::string::npos) << r.err;
}

TEST(RunCommand, MissingFolderExitsOne) {
  const fs::path dir = test::fresh_dir();
  const fs::path model = write_model(dir);
  auto r = test::run_quantize("run " + q(model) + " --inputs " + q(dir / "nope") + " -o " + q(dir / "out"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find((dir / "nope").string() + ": no such file or folder"), std::string::npos) << r.err;
}

TEST(RunCommand, UsageErrorsExitTwo) {
  EXPECT_EQ(test::run_quantize("run").exit_code, 2);
  EXPECT_EQ(test::run_quantize("run m.onnx -o out").exit_code, 2);           // no --inputs
  EXPECT_EQ(test::run_quantize("run m.onnx --inputs d").exit_code, 2);       // no -o
  EXPECT_EQ(test::run_quantize("run m.onnx --inputs d -o o --threads -1").exit_code, 2);
  EXPECT_EQ(test::run_quantize("run m.onnx --inputs d -o o --repeat x").exit_code, 2);
}
