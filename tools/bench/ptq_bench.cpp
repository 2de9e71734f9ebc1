// SPDX-License-Identifier: Apache-2.0
// ptq_bench: times the built-in executor on one model, for tools/bench/speed.py.
//   ptq_bench MODEL [--inputs DIR] [--shape NAME=1,3,640,640] [--threads N] [--repeat N] [--profile]
//             [--output DIR] [--no-fuse] [--no-fold]
// Inputs come from DIR/<input>.npy, else uniform random floats in [-1, 1) (seed 1) of the declared
// shape, where --shape fixes dynamic dims (unknown dims default to 1). One untimed warm-up run, then
// --repeat timed runs. Prints one JSON object on stdout: threads, repeats, first_run_ms, mean_ms,
// min_ms, median_ms and, with --profile, ms per run by op type. --output writes the graph outputs of
// the last run as DIR/<sanitized name>.npy (for the determinism check in speed.py). The model's
// protobuf is released once the graph is built, so peak RSS shows the executor's own footprint.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "ptq/util/allocator.h"
#include "ptq/exec/executor.h"
#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"

namespace {

using namespace ptq;

Tensor random_input(const ValueInfo& vi, const std::map<std::string, Shape>& shapes, uint32_t seed) {
  Shape shape;
  auto it = shapes.find(vi.name);
  if (it != shapes.end()) {
    shape = it->second;
  } else {
    for (const Dim& d : vi.dims) shape.push_back(d.known() ? d.value : 1);
  }
  if (vi.dtype != DType::Float32 && vi.dtype != DType::Undefined)
    PTQ_FAIL(UsageError, "input '", vi.name, "' is ", dtype_name(vi.dtype), ": give it with --inputs");
  Tensor t(DType::Float32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

std::map<std::string, Shape> parse_shapes(const std::vector<std::string>& specs) {
  std::map<std::string, Shape> shapes;
  for (const std::string& s : specs) {
    size_t eq = s.find('=');
    if (eq == std::string::npos) PTQ_FAIL(UsageError, "--shape wants NAME=d0,d1,..., got '", s, "'");
    Shape shape;
    std::stringstream ss(s.substr(eq + 1));
    std::string part;
    while (std::getline(ss, part, ',')) shape.push_back(std::stoll(part));
    shapes[s.substr(0, eq)] = shape;
  }
  return shapes;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct BenchOptions {
  std::string inputs, output;
  std::vector<std::string> shapes;
  int threads = 1, repeat = 20;
  bool profile = false, no_fuse = false, no_fold = false;
};

int run(const std::string& model_path, const BenchOptions& o) {
  Graph graph;
  {
    onnx_io::LoadedModel model = onnx_io::load_model(model_path);
    graph = build_graph(model.proto, GraphOptions{true, model.external_tensors});
  }
  exec::Executor ex(graph, exec::ExecOptions{o.threads, o.profile, !o.no_fuse, !o.no_fold});
  const std::string& inputs_dir = o.inputs;
  const int repeat = o.repeat;
  const bool profile = o.profile;
  std::map<std::string, Shape> shapes = parse_shapes(o.shapes);
  exec::TensorMap in;
  uint32_t seed = 1;
  for (const ValueInfo& vi : graph.inputs) {
    std::filesystem::path f = std::filesystem::path(inputs_dir) / (sanitize_file_name(vi.name) + ".npy");
    in[vi.name] = !inputs_dir.empty() && std::filesystem::exists(f) ? read_npy(f) : random_input(vi, shapes, seed++);
  }
  auto t0 = std::chrono::steady_clock::now();
  exec::TensorMap out_tensors = ex.run(in);
  const double first = ms_since(t0);
  std::vector<double> times;
  for (int i = 0; i < repeat; ++i) {
    t0 = std::chrono::steady_clock::now();
    out_tensors = ex.run(in);
    times.push_back(ms_since(t0));
  }
  if (!o.output.empty()) {
    std::filesystem::create_directories(o.output);
    for (const auto& kv : out_tensors) write_npy(std::filesystem::path(o.output) / (sanitize_file_name(kv.first) + ".npy"), kv.second);
  }
  nlohmann::json out;
  out["threads"] = ex.threads();
  out["repeats"] = repeat;
  out["first_run_ms"] = first;
  double sum = 0.0, best = times.empty() ? first : times[0];
  for (double t : times) {
    sum += t;
    best = std::min(best, t);
  }
  out["mean_ms"] = times.empty() ? first : sum / static_cast<double>(times.size());
  out["min_ms"] = best;
  if (!times.empty()) {  // robust to the other processes of a shared machine, unlike the mean
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    out["median_ms"] = sorted[sorted.size() / 2];
  }
  if (profile) {
    const double runs = static_cast<double>(repeat + 1);
    for (const auto& kv : ex.profile()) out["profile_ms"][kv.first] = kv.second.seconds * 1000.0 / runs;
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ptq::tune_allocator();
  CLI::App app{"Time ptq's executor on a model", "ptq_bench"};
  std::string model;
  BenchOptions o;
  app.add_option("model", model, "ONNX model")->required();
  app.add_option("--inputs", o.inputs, "Folder with <input>.npy files");
  app.add_option("--shape", o.shapes, "NAME=d0,d1,... for random inputs with dynamic dims");
  app.add_option("--threads", o.threads, "Executor threads");
  app.add_option("--repeat", o.repeat, "Timed runs after one warm-up run");
  app.add_option("--output", o.output, "Write the outputs of the last run as .npy files here");
  app.add_flag("--profile", o.profile, "Time per op type");
  app.add_flag("--no-fuse", o.no_fuse, "Disable executor fusion");
  app.add_flag("--no-fold", o.no_fold, "Disable plan-time constant folding");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(model, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
