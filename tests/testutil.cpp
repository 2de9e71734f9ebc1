// SPDX-License-Identifier: Apache-2.0
#include "testutil.h"

#include <cmath>

#include <onnx/defs/parser.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

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
