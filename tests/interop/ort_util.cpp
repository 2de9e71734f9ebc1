// SPDX-License-Identifier: Apache-2.0
#include "ort_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "ptq/ir/npy.h"
#include "ptq/quant/scale.h"
#include "testutil.h"

namespace fs = std::filesystem;

namespace ptq::test {

OrtRun ort_run(const onnx::ModelProto& model, const exec::TensorMap& inputs, const fs::path& dir,
               const OrtOptions& options) {
  fs::create_directories(dir);
  write_model(model, dir / "model.onnx");
  return ort_run_file(dir / "model.onnx", inputs, dir, options);
}

OrtRun ort_run_file(const fs::path& model_path, const exec::TensorMap& inputs, const fs::path& dir, const OrtOptions& options) {
  fs::create_directories(dir / "in");
  const fs::path out_dir = dir / "out";
  fs::remove_all(out_dir);
  for (const auto& [name, t] : inputs) write_npy(dir / "in" / (sanitize_file_name(name) + ".npy"), t);
  std::string cmd = "node " + std::string(PTQ_ORT_DIR) + "/run_model.js " + model_path.string() + " --inputs " +
                    (dir / "in").string() + " --outputs " + out_dir.string() + " --level " + options.level;
  if (!options.optimized.empty()) cmd += " --optimized " + options.optimized.string();
  if (options.x64_precision) cmd += " --x64-precision";
  RunResult r = run_command(cmd);
  OrtRun run;
  if (r.exit_code != 0) {
    run.error = r.err;
    return run;
  }
  onnx::ModelProto model;  // the graph's outputs (the model file alone: no external data read)
  if (!model.ParseFromString(read_bytes(model_path))) {
    run.error = "cannot parse " + model_path.string();
    return run;
  }
  for (const auto& o : model.graph().output())
    run.outputs[o.name()] = read_npy(out_dir / (sanitize_file_name(o.name()) + ".npy"));
  run.ok = true;
  return run;
}

bool ort_u8s8_saturates() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool saturates = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("flags", 0) != 0) continue;
      std::istringstream words(line);
      std::string w;
      while (words >> w)
        if (w == "avx512_vnni" || w == "avx_vnni") return false;
      return true;
    }
    return true;  // no flags line: assume the worst
  }();
  return saturates;
#else
  return false;
#endif
}

namespace {

Range min_max(const Tensor& t) {
  const float* p = t.data<float>();
  auto [lo, hi] = std::minmax_element(p, p + t.numel());
  return {*lo, *hi};
}

}  // namespace

exec::TensorMap ort_activations(const onnx::ModelProto& model, const Graph& graph, const exec::TensorMap& samples,
                                const fs::path& dir) {
  onnx::ModelProto probe = model;
  for (const auto& n : graph.nodes)
    for (const auto& o : n.outputs) {
      const ValueInfo* vi = graph.info(o);
      if (o.empty() || graph.is_graph_output(o) || !vi || vi->dtype != DType::Float32) continue;
      auto* out = probe.mutable_graph()->add_output();
      out->set_name(o);
      out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    }
  OrtRun run = ort_run(probe, samples, dir);
  if (!run.ok) ADD_FAILURE() << "ONNX Runtime failed on the FP32 probe model: " << run.error;
  for (const auto& [name, t] : samples) run.outputs[name] = t;
  return run.outputs;
}

calib::CalibTable minmax_table(const Graph& graph, const rewrite::QuantPlan& plan, const exec::TensorMap& activations) {
  calib::CalibTable table = rewrite::weight_table(graph, plan);
  for (const auto& t : rewrite::calib_targets(plan)) {
    if (t.is_weight) continue;
    auto it = activations.find(t.tensor);
    if (it == activations.end()) {
      ADD_FAILURE() << "no FP32 value for activation '" << t.tensor << "'";
      continue;
    }
    calib::TensorCalib c;
    c.tensor = t.tensor;
    c.method = "minmax";
    c.range = {min_max(it->second)};
    c.qparams = compute_qparams(c.range[0], t.spec);
    table.tensors[t.tensor] = c;
  }
  return table;
}

double cosine(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.numel(), b.numel());
  double dot = 0, na = 0, nb = 0;
  const float *pa = a.data<float>(), *pb = b.data<float>();
  for (int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i) {
    dot += double(pa[i]) * pb[i];
    na += double(pa[i]) * pa[i];
    nb += double(pb[i]) * pb[i];
  }
  return na == 0 && nb == 0 ? 1.0 : dot / std::sqrt(na * nb);
}

}  // namespace ptq::test
