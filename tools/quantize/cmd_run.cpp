// SPDX-License-Identifier: Apache-2.0
// quantize run MODEL --inputs DIR -o OUTDIR [--threads N] [--repeat N]
// Runs the model with ptq's executor on every sample of a data folder and writes each graph output
// as OUTDIR[/<sample>]/<sanitized output name>.npy (sample sub-folders mirrored; names longer than
// 200 bytes are cut and get a hash), OUTDIR/outputs.json (output name -> file name), and
// OUTDIR/timing.json: per-sample milliseconds (mean over the 1 + repeat runs of that sample),
// first_run_ms, mean_ms and min_ms over all runs, threads, repeat (with --profile also the time per
// op type, summed over all runs, printed on stderr). Files are written atomically;
// the output folder may not be the data folder or one of its sample folders.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>

#include "commands.h"
#include "load_graph.h"
#include "ptq/calib/data_reader.h"
#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/util/log.h"

namespace fs = std::filesystem;

namespace ptq::cli {
namespace {

struct RunCommand {
  std::string model, inputs, output;
  int threads = 0, repeat = 0;
  bool profile = false;
};

fs::path canonical_or_self(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p : c;
}

// The output folder of one sample; refuses a folder that holds the sample's input files.
fs::path sample_dir(const RunCommand& cmd, const calib::Sample& s) {
  const fs::path in_dir = canonical_or_self(s.id.empty() ? fs::path(cmd.inputs) : fs::path(cmd.inputs) / s.id);
  const fs::path out_dir = canonical_or_self(s.id.empty() ? fs::path(cmd.output) : fs::path(cmd.output) / s.id);
  if (out_dir == in_dir)
    PTQ_FAIL(UsageError, "output folder ", out_dir.string(), " is the input folder ", in_dir.string(), "; choose another -o");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir)) PTQ_FAIL(IoError, out_dir.string(), ": cannot create folder");
  return out_dir;
}

// Longest file-name stem written: file systems allow 255 bytes, and the atomic write adds a temp suffix.
constexpr size_t kMaxStem = 200;

// "<sanitized name>.npy"; a stem longer than kMaxStem keeps its first part and gets a hash of the
// full name (FNV-1a, 64 bit) so that it stays unique and fits the file system.
std::string output_file(const std::string& name) {
  std::string stem = sanitize_file_name(name);
  if (stem.size() > kMaxStem) {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    stem = stem.substr(0, kMaxStem - 17) + "_" + hex;
  }
  return stem + ".npy";
}

// One output file name per graph output; two outputs may not map to one file.
std::vector<std::string> output_files(const Graph& graph) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const auto& o : graph.outputs) {
    files.push_back(output_file(o.name));
    if (!seen.insert(files.back()).second) PTQ_FAIL(UsageError, "two model outputs map to the file name ", files.back());
  }
  return files;
}

// Time per op type on stderr, largest first.
void print_profile(const std::map<std::string, exec::OpProfile>& profile, double total_ms) {
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [op, p] : profile) rows.emplace_back(p.seconds * 1e3, op);
  std::sort(rows.rbegin(), rows.rend());
  std::fprintf(stderr, "%-24s %10s %7s\n", "op", "ms", "share");
  for (const auto& [ms, op] : rows)
    std::fprintf(stderr, "%-24s %10.2f %6.1f%%\n", op.c_str(), ms, total_ms > 0 ? 100.0 * ms / total_ms : 0.0);
}

int run_model(const RunCommand& cmd) {
  onnx_io::LoadedModel model;
  const Graph graph = load_graph(cmd.model, model);
  const exec::Executor executor(graph, exec::ExecOptions{cmd.threads, cmd.profile});
  const std::unique_ptr<calib::DataReader> reader = calib::open_data(cmd.inputs, graph.inputs);
  const std::vector<std::string> files = output_files(graph);
  const size_t n = reader->size();
  nlohmann::json per_sample = nlohmann::json::array();
  std::vector<double> all_ms;
  auto last_report = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    calib::Sample sample = reader->read(i);
    const fs::path dir = sample_dir(cmd, sample);
    exec::TensorMap out;
    double sample_ms = 0;
    for (int r = 0; r <= cmd.repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      try {
        out = executor.run(sample.tensors);
      } catch (Error& e) {
        if (!sample.id.empty()) e.append_context("sample '" + sample.id + "'");
        throw;
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      all_ms.push_back(ms);
      sample_ms += ms;
    }
    for (size_t k = 0; k < files.size(); ++k) write_npy(dir / files[k], out.at(graph.outputs[k].name));
    per_sample.push_back({{"sample", sample.id}, {"ms", sample_ms / (cmd.repeat + 1)}});
    if (n > 1 && (std::chrono::steady_clock::now() - last_report > std::chrono::seconds(2) || i + 1 == n)) {
      log::info("run: ", i + 1, "/", n, " samples");
      last_report = std::chrono::steady_clock::now();
    }
  }
  double sum = 0;
  for (double v : all_ms) sum += v;
  nlohmann::json timing = {{"model", cmd.model}, {"threads", executor.threads()}, {"repeat", cmd.repeat},
                           {"samples", n}, {"first_run_ms", all_ms.front()}, {"mean_ms", sum / static_cast<double>(all_ms.size())},
                           {"min_ms", *std::min_element(all_ms.begin(), all_ms.end())}, {"per_sample", per_sample}};
  if (cmd.profile) {
    nlohmann::json ops = nlohmann::json::object();
    for (const auto& [op, p] : executor.profile()) ops[op] = {{"calls", p.calls}, {"ms", p.seconds * 1e3}};
    timing["ops"] = ops;
    print_profile(executor.profile(), sum);
  }
  onnx_io::write_file_atomic(fs::path(cmd.output) / "timing.json", timing.dump(1) + "\n");
  nlohmann::json index = nlohmann::json::object();
  for (size_t k = 0; k < files.size(); ++k) index[graph.outputs[k].name] = files[k];
  onnx_io::write_file_atomic(fs::path(cmd.output) / "outputs.json", index.dump(1) + "\n");
  log::info("run: ", n, " sample", n == 1 ? "" : "s", ", mean ", timing["mean_ms"].get<double>(), " ms -> ", cmd.output);
  return 0;
}

}  // namespace

void register_run_command(CLI::App& app, Action& action) {
  auto cmd = std::make_shared<RunCommand>();
  CLI::App* sub = app.add_subcommand("run", "Run a model with ptq's CPU executor on a data folder; write outputs as .npy");
  sub->add_option("MODEL", cmd->model, "ONNX model")->required();
  sub->add_option("--inputs", cmd->inputs, "Data folder: <input>.npy files, or sample folders holding them")->required();
  sub->add_option("-o,--output", cmd->output, "Output folder (created; sample sub-folders mirrored)")->required();
  sub->add_option("--threads", cmd->threads, "Threads (0: all cores)")->check(whole_number());
  sub->add_option("--repeat", cmd->repeat, "Extra timed runs per sample")->check(whole_number());
  sub->add_flag("--profile", cmd->profile, "Time per op type (stderr table, \"ops\" in timing.json)");
  sub->callback([cmd, &action] { action = [cmd] { return run_model(*cmd); }; });
}

}  // namespace ptq::cli
