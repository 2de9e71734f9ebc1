// SPDX-License-Identifier: Apache-2.0
// The SmoothQuant stage of run_quantize (stages.h): max|X_j| of every activation a MatMul/Gemm with a
// constant weight reads, over the calibration samples; rewrite::smooth_quant; the float model, its graph
// and the plan are replaced by the smoothed ones, which calibration, the rewrite and the evaluation use.
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

void smooth_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result) {
  if (job.quant.mode != rewrite::QuantMode::Static)
    PTQ_FAIL(UsageError, "--smooth-quant applies to static mode (it moves activation outliers into the weights)");
  if (!data.calib) PTQ_FAIL(UsageError, "--smooth-quant needs calibration data (--calib DIR): it measures max|x| per channel");
  if (!job.load_table.empty())
    PTQ_FAIL(UsageError, "--smooth-quant cannot use --load-table: the table's ranges are of the model before smoothing");
  const auto absmax = calib::channel_absmax(prep.graph, rewrite::smooth_quant_inputs(prep.graph), *data.calib, job.calib);
  rewrite::SmoothQuantResult sq = rewrite::smooth_quant(prep.model, prep.graph, absmax, job.smooth_quant_alpha);
  result.smoothed = sq.smoothed;
  result.smoothed_folded = sq.folded;
  log::info("SmoothQuant (alpha ", job.smooth_quant_alpha, "): ", sq.smoothed, " activations smoothed, ", sq.folded,
            " folded into their producer, ", sq.inserted, " through a Mul");
  if (sq.smoothed == 0) return;
  prep.model = std::move(sq.model);
  prep.graph = build_graph(prep.model, GraphOptions{true, prep.loaded.external_tensors});
  prep.plan = rewrite::plan_quantization(prep.graph, job.quant);
}

}  // namespace ptq::pipeline
