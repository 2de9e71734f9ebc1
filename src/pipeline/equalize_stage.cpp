// SPDX-License-Identifier: Apache-2.0
// The channel equalization stage of run_quantize (stages.h): max|x| per channel (axis 1) of every
// candidate of rewrite::equalize_inputs over the calibration samples; rewrite::equalize_channels; the
// float model, its graph and the plan are replaced by the equalized ones, and what the pass keeps float
// goes into job.quant (so the precision search's plans keep it too).
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

void equalize_stage(QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result) {
  const auto absmax = measure_channel_absmax(job, prep, data, rewrite::equalize_inputs(prep.graph),
                                             {"--equalize", "it gives activations per-channel ranges", "equalization"});
  rewrite::EqualizeResult eq = rewrite::equalize_channels(prep.model, prep.graph, absmax, kEqualizeMinGain);
  result.equalized_outputs = eq.outputs;
  result.equalized_inputs = eq.inputs;
  log::info("channel equalization: ", eq.outputs, " Conv output(s) equalized and restored in float, ", eq.inputs,
            " Conv input(s) equalized");
  if (eq.outputs + eq.inputs == 0) return;
  job.quant.kept_float = eq.kept_float;
  replace_model(prep, std::move(eq.model), job);
}

}  // namespace ptq::pipeline
