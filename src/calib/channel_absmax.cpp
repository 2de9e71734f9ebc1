// SPDX-License-Identifier: Apache-2.0
// channel_absmax (calibrator.h): max |x| per channel of the given tensors over every calibration
// sample, streamed through the executor's tap (SmoothQuant's max|X_j|). Channel c along `axis` (negative:
// from the end) takes the max over every other index.
#include <cmath>

#include "channel_layout.h"
#include "ptq/calib/calibrator.h"
#include "ptq/exec/executor.h"
#include "ptq/util/progress.h"

namespace ptq::calib {

std::map<std::string, std::vector<double>> channel_absmax(const Graph& graph, const std::map<std::string, int>& tensor_axes,
                                                          const DataReader& data, const CalibOptions& options) {
  std::map<std::string, std::vector<double>> absmax;
  exec::Tap tap = [&](const std::string& name, const Tensor& value) {
    ChannelLayout layout;
    if (!channel_layout(tensor_axes, name, value, layout)) return;
    const int64_t channels = layout.channels, inner = layout.inner;
    std::vector<double>& m = absmax[name];
    if (m.empty()) m.assign(static_cast<size_t>(channels), 0.0);
    if (static_cast<int64_t>(m.size()) != channels) return;  // a varying channel count: not a channel axis
    const float* p = value.data<float>();
    for (int64_t run = 0; run < value.numel() / inner; ++run) {  // one channel's contiguous values per run
      float top = 0.0f;
      for (int64_t i = 0; i < inner; ++i) top = std::fmax(top, std::fabs(p[run * inner + i]));
      double& c = m[static_cast<size_t>(run % channels)];
      c = std::fmax(c, static_cast<double>(top));
    }
  };
  exec::Executor executor(graph, exec::ExecOptions{options.threads, false});
  exec::RunOptions run;
  run.tap = &tap;
  Progress progress("channel ranges", data.size(), options.progress);
  for (size_t i = 0; i < data.size(); ++i) {
    Sample sample = data.read(i);
    progress.update(i + 1);
    if (sample.skipped) continue;
    for (const auto& kv : sample.tensors) tap(kv.first, kv.second);
    executor.run(sample.tensors, run);
  }
  progress.finish();
  return absmax;
}

}  // namespace ptq::calib
