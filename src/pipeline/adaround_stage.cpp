// SPDX-License-Identifier: Apache-2.0
// The AdaRound stage (see stages.h): transform::adaround on the calibration samples for the plan and
// table the rewrite will use (or a precision search's base plan), and a result's weights written into
// a copy of the model (same names, so the table still applies), with what the report says about it.
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

transform::AdaRoundResult learn_rounding_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                               const rewrite::QuantPlan& plan, const calib::CalibTable& table,
                                               bool float_inputs) {
  PTQ_CHECK(data.calib);
  transform::AdaRoundOptions o;
  o.iterations = job.adaround;
  o.threads = job.calib.threads;
  o.progress = job.calib.progress;
  o.correct_bias = job.bias_correction;
  o.float_inputs = float_inputs;
  transform::AdaRoundResult r =
      transform::adaround(prep.graph, plan, rewrite::resolve_params(prep.graph, plan, table), *data.calib, o);
  if (r.layers.empty())
    log::warn("--adaround: no layer to round (", r.skipped.empty() ? "no Conv/Gemm/MatMul" : r.skipped.front(), ")");
  else
    log::debug("AdaRound: ", r.layers.size(), " layers in ", r.seconds, " s; reconstruction error ",
               r.mean_error_nearest(), " (nearest) -> ", r.mean_error());
  return r;
}

Rounded rounded_model(const Prepared& prep, const transform::AdaRoundResult& r) {
  Rounded out;
  out.summary.ran = true;
  out.summary.float_inputs = r.float_inputs;
  out.summary.layers = r.layers;
  out.summary.skipped = r.skipped;
  out.summary.samples = r.samples;
  out.summary.iterations = r.iterations;
  out.summary.seconds = r.seconds;
  out.summary.error_nearest = r.mean_error_nearest();
  out.summary.error = r.mean_error();
  for (const auto& l : r.layers) out.summary.biases_corrected += l.bias_corrected;
  if (r.layers.empty()) return out;
  out.model = rewrite::replace_weights(prep.model, r.weights).model;
  out.params = r.params;
  out.graph = prep.graph;  // same nodes and shapes; the rounded weights replace the float ones
  for (const auto& [name, value] : r.weights) out.graph.weights[name].value = value;
  out.changed = true;
  return out;
}

}  // namespace ptq::pipeline
