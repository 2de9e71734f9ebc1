// SPDX-License-Identifier: Apache-2.0
// The SmoothQuant stage of run_quantize (stages.h): max|X_j| of every activation a MatMul/Gemm with a
// constant weight reads, over the calibration samples; rewrite::smooth_quant; the float model, its graph
// and the plan are replaced by the smoothed ones, which calibration, the rewrite and the evaluation use.
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

void smooth_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result) {
  const auto absmax = measure_channel_absmax(job, prep, data, rewrite::smooth_quant_inputs(prep.graph),
                                             {"--smooth-quant", "it moves activation outliers into the weights", "smoothing"});
  rewrite::SmoothQuantResult sq = rewrite::smooth_quant(prep.model, prep.graph, absmax, job.smooth_quant_alpha);
  result.smoothed = sq.smoothed;
  result.smoothed_folded = sq.folded;
  log::info("SmoothQuant (alpha ", job.smooth_quant_alpha, "): ", sq.smoothed, " activations smoothed, ", sq.folded,
            " folded into their producer, ", sq.inserted, " through a Mul");
  if (sq.smoothed == 0) return;
  replace_model(prep, std::move(sq.model), job);
}

std::map<std::string, std::vector<double>> measure_channel_absmax(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                                                  const std::map<std::string, int>& tensors, const ChannelPass& pass) {
  if (job.quant.mode != rewrite::QuantMode::Static) PTQ_FAIL(UsageError, pass.option, " applies to static mode (", pass.purpose, ")");
  if (!data.calib) PTQ_FAIL(UsageError, pass.option, " needs calibration data (--calib DIR): it measures max|x| per channel");
  if (!job.load_table.empty())
    PTQ_FAIL(UsageError, pass.option, " cannot use --load-table: the table's ranges are of the model before ", pass.noun);
  if (tensors.empty()) return {};
  return calib::channel_absmax(prep.graph, tensors, *data.calib, job.calib);
}

}  // namespace ptq::pipeline
