// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tests: models from ONNX text syntax, temp folders, running the CLI.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>

#include "ptq/calib/data_reader.h"
#include "ptq/ir/tensor.h"

namespace ptq::test {

// Parses a model written in ONNX text syntax (onnx/defs/parser.h); fails the test on a syntax error.
onnx::ModelProto parse_text_model(const std::string& text);

// Adds an initializer to the model's graph.
void add_initializer(onnx::ModelProto& model, const std::string& name, const Tensor& value);

// A fresh, empty folder under the build's temp dir, unique to the running test.
std::filesystem::path fresh_dir();

void write_bytes(const std::filesystem::path& path, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& path);
void write_model(const onnx::ModelProto& model, const std::filesystem::path& path);

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs a shell command line, capturing stdout and stderr.
RunResult run_command(const std::string& command);
// Runs the `quantize` binary built with the tests.
RunResult run_quantize(const std::string& args);

// Samples held in memory (ids "s0", "s1", ...).
class MemoryReader : public calib::DataReader {
 public:
  explicit MemoryReader(std::vector<std::map<std::string, Tensor>> samples) : samples_(std::move(samples)) {}
  size_t size() const override { return samples_.size(); }
  calib::Sample read(size_t i) const override { return calib::Sample{"s" + std::to_string(i), samples_.at(i)}; }
  std::string describe() const override { return "memory"; }

 private:
  std::vector<std::map<std::string, Tensor>> samples_;
};

// Deterministic pseudo-random float tensor in [lo, hi).
Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// A small classifier written to a fresh folder: dir/net.onnx, x [1,3,size,size] → Conv 3x3 (pads 1, c1
// channels) → Relu → Conv 1x1 (c2) → Relu → GlobalAveragePool → Flatten → Gemm (transB, `classes`) → y,
// weights random_tensor with seeds 1..6; dir/calib/000, 001, ...: `samples` folders of x.npy in [-1, 1)
// (seeds 100 + i). `node_names`, when given, name the seven nodes in that order.
struct ClassifierFiles {
  std::filesystem::path dir, model, calib;
};
ClassifierFiles write_classifier(int64_t size, int64_t c1, int64_t c2, int64_t classes, int samples,
                                 const std::vector<std::string>& node_names = {});

// dir/file: x [1, 64] → MatMul w0 [64, 128] → Relu → MatMul w1 [128, 64] → Relu → MatMul w2 [64, 32] → y,
// weights random_tensor (seeds 21..23; 32, 32 and 8 KiB) in "<file>.data" when `external`, inline
// otherwise; dir/calib/0 … 5: x.npy samples (seeds 200 + i). Returns the model's path.
std::filesystem::path write_mlp(const std::filesystem::path& dir, const std::string& file, bool external);

// x [1,3,8,8] → Conv W1 (3x3, pads 1, 4 channels) → c1 → SiLU (Sigmoid sg, Mul) → y → depthwise Conv
// W2 (group 4) → c2 → Relu → r → Conv W3 (1x1, 6 channels) → out: a detector's stem in small. W1's
// output channels are scaled by kStemRows (300x apart); W2 scales them back up, so c2's channels span
// one range and carry as much of the output as each other. `stem_is_output`: c1 is a graph output too.
// Samples: stem_samples(n, seed), x in [-3, 3).
inline constexpr float kStemRows[4] = {1.0f, 0.01f, 0.0033f, 0.3f};
onnx::ModelProto depthwise_stem(bool stem_is_output = false);
std::vector<std::map<std::string, Tensor>> stem_samples(int n, uint32_t seed);

// dir: a model y = x * w over rows of 3 ([N,3] in and out; w of 3 values), for comparisons.
void write_scaled_model(const std::filesystem::path& path, const std::vector<float>& w);

// max |got − want| / max |want| over two float tensors of the same size.
double max_relative_diff(const Tensor& got, const Tensor& want);

}  // namespace ptq::test
