// SPDX-License-Identifier: Apache-2.0
// The channel splitting stage of run_quantize (stages.h): max|x| per channel (axis 1) of every candidate
// of rewrite::split_inputs over the calibration samples; rewrite::split_channels; the float model, its
// graph and the plan are replaced by the split ones.
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

void split_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result) {
  const std::map<std::string, int> candidates = rewrite::split_inputs(prep.graph);
  const auto absmax = measure_channel_absmax(
      job, prep, data, candidates, {"--split-channels", "it gives activations per-channel ranges", "splitting"});
  if (candidates.empty()) {
    log::info("channel splitting: no Conv feeds a depthwise Conv through element-wise activations");
    return;
  }
  rewrite::SplitResult split = rewrite::split_channels(prep.model, prep.graph, absmax, kEqualizeMinGain);
  result.split_convs = split.convs;
  result.split_groups = split.groups;
  log::info("channel splitting: ", split.convs, " of ", candidates.size(), " candidate Conv output(s) split into ",
            split.groups, " channel groups");
  if (split.convs == 0) return;
  replace_model(prep, std::move(split.model), job);
}

}  // namespace ptq::pipeline
