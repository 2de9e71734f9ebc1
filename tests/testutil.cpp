// SPDX-License-Identifier: Apache-2.0
#include "testutil.h"

#include <cmath>

#include <onnx/defs/parser.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"

namespace fs = std::filesystem;

namespace ptq::test {

onnx::ModelProto parse_text_model(const std::string& text) {
  onnx::ModelProto model;
  auto status = onnx::OnnxParser::Parse(model, text.c_str());
  if (!status.IsOK()) ADD_FAILURE() << "bad test model text: " << status.ErrorMessage();
  return model;
}

void add_initializer(onnx::ModelProto& model, const std::string& name, const Tensor& value) {
  *model.mutable_graph()->add_initializer() = onnx_io::tensor_to_proto(value, name);
}

// Per process (two checkouts testing at once must not share a directory), removed at exit.
const fs::path& process_dir() {
  struct Dir {
    fs::path path = fs::temp_directory_path() / "ptq_tests" / std::to_string(::getpid());
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

fs::path fresh_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "ptq_test";
  fs::path dir = process_dir() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_model(const onnx::ModelProto& model, const fs::path& path) {
  std::string bytes;
  ASSERT_TRUE(model.SerializeToString(&bytes));
  write_bytes(path, bytes);
}

RunResult run_command(const std::string& command) {
  static int counter = 0;
  fs::path dir = fs::temp_directory_path() / "ptq_tests" / "_runs" /
                 (std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::create_directories(dir);
  fs::path out = dir / "stdout", err = dir / "stderr";
  std::string line = command + " >" + out.string() + " 2>" + err.string();
  int status = std::system(line.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_bytes(out);
  r.err = read_bytes(err);
  fs::remove_all(dir);
  return r;
}

RunResult run_quantize(const std::string& args) { return run_command(std::string(QUANTIZE_BIN) + " " + args); }

fs::path write_mlp(const fs::path& dir, const std::string& file, bool external) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
mlp (float[1,64] x) => (float[1,32] y) {
  h0 = MatMul(x, w0)
  r0 = Relu(h0)
  h1 = MatMul(r0, w1)
  r1 = Relu(h1)
  y = MatMul(r1, w2)
}
)");
  add_initializer(m, "w0", random_tensor({64, 128}, 21, -0.3f, 0.3f));
  add_initializer(m, "w1", random_tensor({128, 64}, 22, -0.2f, 0.2f));
  add_initializer(m, "w2", random_tensor({64, 32}, 23, -0.2f, 0.25f));
  onnx_io::SaveOptions save;
  save.external_data = external ? onnx_io::ExternalData::Always : onnx_io::ExternalData::Never;
  onnx_io::save_model(m, dir / file, save);
  for (int s = 0; s < 6; ++s) {
    fs::create_directories(dir / "calib" / std::to_string(s));
    write_npy(dir / "calib" / std::to_string(s) / "x.npy", random_tensor({1, 64}, 200 + static_cast<uint32_t>(s)));
  }
  return dir / file;
}

onnx::ModelProto depthwise_stem(bool stem_is_output) {
  onnx::ModelProto m = parse_text_model(std::string(R"(
<ir_version: 8, opset_import: ["" : 17]>
stem (float[1,3,8,8] x) => (float[1,6,8,8] out)") + (stem_is_output ? ", float[1,4,8,8] c1" : "") + R"() {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, W1, B1)
  sg = Sigmoid (c1)
  y = Mul (c1, sg)
  c2 = Conv <group = 4, pads = [1, 1, 1, 1]> (y, W2, B2)
  r = Relu (c2)
  out = Conv (r, W3, B3)
}
)");
  Tensor w1 = random_tensor({4, 3, 3, 3}, 1, -0.5f, 0.5f), b1 = random_tensor({4}, 2, -0.2f, 0.2f);
  for (int64_t i = 0; i < w1.numel(); ++i) w1.data<float>()[i] *= kStemRows[i / 27];
  for (int64_t i = 0; i < 4; ++i) b1.data<float>()[i] *= kStemRows[i];
  add_initializer(m, "W1", w1);
  add_initializer(m, "B1", b1);
  Tensor w2 = random_tensor({4, 1, 3, 3}, 3, 0.1f, 0.5f);
  for (int64_t i = 0; i < w2.numel(); ++i) w2.data<float>()[i] /= kStemRows[i / 9];
  add_initializer(m, "W2", w2);
  add_initializer(m, "B2", random_tensor({4}, 4, -0.01f, 0.01f));
  add_initializer(m, "W3", random_tensor({6, 4, 1, 1}, 5, -1.0f, 1.0f));
  add_initializer(m, "B3", random_tensor({6}, 6, -0.1f, 0.1f));
  return m;
}

std::vector<std::map<std::string, Tensor>> stem_samples(int n, uint32_t seed) {
  std::vector<std::map<std::string, Tensor>> s;
  for (int i = 0; i < n; ++i) s.push_back({{"x", random_tensor({1, 3, 8, 8}, seed + static_cast<uint32_t>(i), -3.0f, 3.0f)}});
  return s;
}

ClassifierFiles write_classifier(int64_t size, int64_t c1, int64_t c2, int64_t classes, int samples,
                                 const std::vector<std::string>& node_names) {
  ClassifierFiles f;
  f.dir = fresh_dir();
  const std::string s = std::to_string(size), k = std::to_string(classes);
  onnx::ModelProto m = parse_text_model("<ir_version: 8, opset_import: [\"\" : 13]>\nnet (float[1,3," + s + "," + s + "] x) => (float[1," + k +
                                        "] y) {\n"
                                        "  c1 = Conv <pads = [1,1,1,1]> (x, w1, b1)\n  r1 = Relu(c1)\n  c2 = Conv (r1, w2, b2)\n"
                                        "  r2 = Relu(c2)\n  p = GlobalAveragePool(r2)\n  f = Flatten(p)\n  y = Gemm <transB = 1> (f, w3, b3)\n}\n");
  for (int i = 0; i < m.graph().node_size() && i < static_cast<int>(node_names.size()); ++i)
    m.mutable_graph()->mutable_node(i)->set_name(node_names[static_cast<size_t>(i)]);
  add_initializer(m, "w1", random_tensor({c1, 3, 3, 3}, 1, -0.5f, 0.5f));
  add_initializer(m, "b1", random_tensor({c1}, 2, -0.1f, 0.1f));
  add_initializer(m, "w2", random_tensor({c2, c1, 1, 1}, 3, -0.5f, 0.5f));
  add_initializer(m, "b2", random_tensor({c2}, 4, -0.1f, 0.1f));
  add_initializer(m, "w3", random_tensor({classes, c2}, 5, -1.0f, 1.0f));
  add_initializer(m, "b3", random_tensor({classes}, 6, -0.1f, 0.1f));
  f.model = f.dir / "net.onnx";
  write_model(m, f.model);
  f.calib = f.dir / "calib";
  for (int i = 0; i < samples; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "%03d", i);
    fs::create_directories(f.calib / name);
    write_npy(f.calib / name / "x.npy", random_tensor({1, 3, size, size}, 100 + static_cast<uint32_t>(i), -1.0f, 1.0f));
  }
  return f;
}

void write_scaled_model(const fs::path& path, const std::vector<float>& w) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[N,3] x) => (float[N,3] y) {
  y = Mul(x, w)
}
)");
  add_initializer(m, "w", Tensor::from_vector<float>(w, {3}));
  write_model(m, path);
}

Tensor random_tensor(Shape shape, uint32_t seed, float lo, float hi) {
  Tensor t(DType::Float32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

double max_relative_diff(const Tensor& got, const Tensor& want) {
  double worst = 0.0, top = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    worst = std::max(worst, std::fabs(double(got.data<float>()[i]) - want.data<float>()[i]));
    top = std::max(top, std::fabs(double(want.data<float>()[i])));
  }
  return worst / top;
}

}  // namespace ptq::test
