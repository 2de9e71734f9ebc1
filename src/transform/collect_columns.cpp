// SPDX-License-Identifier: Apache-2.0
// collect_columns (layer_inputs.h): one pass of the FP32 executor over the samples, every layer's
// LayerColumns fed from the executor's tap (a layer's input, or output for ColumnKind::Outputs). Samples
// are read in order, kChunk at a time, and run on the threads; a skipped sample is left out.
#include <algorithm>

#include "ptq/exec/executor.h"
#include "ptq/transform/layer_inputs.h"
#include "ptq/util/parallel.h"
#include "ptq/util/progress.h"

namespace ptq::transform {
namespace {
constexpr size_t kChunk = 16;  // samples read, then run on the threads, at a time
}  // namespace

CollectedColumns collect_columns(const Graph& graph, const std::vector<LinearLayer>& layers, ColumnKind kind,
                                 const calib::DataReader& data, const CollectOptions& options) {
  const size_t n = data.size();
  std::vector<LayerColumns> collectors;
  std::multimap<std::string, size_t> by_tensor;
  for (size_t k = 0; k < layers.size(); ++k) {
    collectors.emplace_back(graph, layers[k], kind, n, options.columns);
    by_tensor.emplace(kind == ColumnKind::Outputs ? layers[k].output : layers[k].input, k);
  }
  CollectedColumns out;
  out.used.assign(n, 0);
  exec::Executor fp32(graph, exec::ExecOptions{options.threads, false, false, false});
  Progress progress(options.what, n, options.progress);
  for (size_t first = 0; first < n; first += kChunk) {
    std::vector<calib::Sample> chunk;
    for (size_t i = first; i < std::min(n, first + kChunk); ++i) chunk.push_back(data.read(i));
    run_tasks(options.threads, chunk.size(), [&](size_t k) {
      const calib::Sample& s = chunk[k];
      if (s.skipped) return;
      const size_t i = first + k;
      out.used[i] = 1;
      exec::Tap tap = [&](const std::string& name, const Tensor& value) {
        for (auto [it, end] = by_tensor.equal_range(name); it != end; ++it) collectors[it->second].add(i, value);
      };
      exec::RunOptions run;
      run.tap = &tap;
      try {
        fp32.run(s.tensors, run);
      } catch (Error& e) {
        e.append_context("sample '" + s.id + "' of " + data.describe());
        throw;
      }
    });
    progress.update(first + chunk.size());
  }
  progress.finish();
  out.samples = static_cast<size_t>(std::count(out.used.begin(), out.used.end(), 1));
  if (out.samples == 0) PTQ_FAIL(DataError, data.describe(), ": every sample was skipped as bad; ", options.what, " has no data");
  for (auto& c : collectors) out.layers.push_back(c.take());
  return out;
}

}  // namespace ptq::transform
