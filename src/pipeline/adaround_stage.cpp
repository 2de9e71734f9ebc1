// SPDX-License-Identifier: Apache-2.0
// The AdaRound stage (see stages.h): transform::adaround on the calibration samples for the plan and
// table the rewrite will use, its weights written into a copy of the model (same names, so the table
// still applies), and what the report says about it.
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

Rounded adaround_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                       const rewrite::QuantPlan& plan, const calib::CalibTable& table) {
  PTQ_CHECK(data.calib);
  transform::AdaRoundOptions o;
  o.iterations = job.adaround;
  o.threads = job.calib.threads;
  o.progress = job.calib.progress;
  o.correct_bias = job.bias_correction;
  transform::AdaRoundResult r =
      transform::adaround(prep.graph, plan, rewrite::resolve_params(prep.graph, plan, table), *data.calib, o);
  Rounded out;
  out.summary.ran = true;
  out.summary.layers = r.layers;
  out.summary.skipped = r.skipped;
  out.summary.samples = r.samples;
  out.summary.iterations = r.iterations;
  out.summary.seconds = r.seconds;
  out.summary.error_nearest = r.mean_error_nearest();
  out.summary.error = r.mean_error();
  for (const auto& l : r.layers) out.summary.biases_corrected += l.bias_corrected;
  if (r.layers.empty()) {
    log::warn("--adaround: no layer to round (", r.skipped.empty() ? "no Conv/Gemm/MatMul" : r.skipped.front(), ")");
    return out;
  }
  log::debug("AdaRound: ", r.layers.size(), " layers in ", r.seconds, " s; reconstruction error ",
             out.summary.error_nearest, " (nearest) -> ", out.summary.error);
  out.model = rewrite::replace_weights(prep.model, r.weights).model;
  out.params = r.params;
  out.graph = prep.graph;  // same nodes and shapes; the rounded weights replace the float ones
  for (auto& [name, value] : r.weights) out.graph.weights[name].value = std::move(value);
  out.changed = true;
  return out;
}

}  // namespace ptq::pipeline
