// SPDX-License-Identifier: Apache-2.0
// fill_histograms (html_report.h): the HTML report's activation histograms, one streamed pass of the
// FP32 graph over a few samples; memory is the bins only.
#include <cmath>
#include <map>

#include "ptq/exec/executor.h"
#include "ptq/report/html_report.h"

namespace ptq::report {

void fill_histograms(const Graph& graph, std::vector<HtmlHistogram>& histograms, const calib::DataReader& data, size_t max_samples,
                     int threads) {
  std::map<std::string, HtmlHistogram*> by_name;
  for (auto& h : histograms)
    if (!h.counts.empty() && h.hi > h.lo) by_name[h.tensor] = &h;
  exec::Tap tap = [&](const std::string& name, const Tensor& value) {
    auto it = by_name.find(name);
    if (it == by_name.end() || value.dtype() != DType::Float32) return;
    HtmlHistogram& h = *it->second;
    const double bins = static_cast<double>(h.counts.size());
    const double scale = bins / (h.hi - h.lo);
    const float* p = value.data<float>();
    for (int64_t i = 0; i < value.numel(); ++i) {
      if (!std::isfinite(p[i])) continue;
      const double b = std::floor((static_cast<double>(p[i]) - h.lo) * scale);
      h.counts[static_cast<size_t>(b < 0.0 ? 0.0 : b >= bins ? bins - 1.0 : b)] += 1.0;
    }
  };
  exec::Executor executor(graph, exec::ExecOptions{threads, false});
  exec::RunOptions run;
  run.tap = &tap;
  for (size_t i = 0; i < data.size() && i < max_samples; ++i) {
    calib::Sample sample = data.read(i);
    if (sample.skipped) continue;
    for (const auto& kv : sample.tensors) tap(kv.first, kv.second);
    executor.run(sample.tensors, run);
  }
}

}  // namespace ptq::report
