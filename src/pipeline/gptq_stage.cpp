// SPDX-License-Identifier: Apache-2.0
// The GPTQ stage (see stages.h): transform::gptq on the calibration samples for the plan and table the
// rewrite will use, its weights written into a copy of the model (same names, so the table still
// applies), and what the report says about it.
#include "ptq/rewrite/passes.h"
#include "ptq/transform/gptq.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

WeightMethodSummary weight_method_summary(const std::string& method, const transform::WeightMethodResult& r) {
  WeightMethodSummary s;
  s.method = method;
  s.ran = true;
  s.layers = r.layers;
  s.skipped = r.skipped;
  s.samples = r.samples;
  s.seconds = r.seconds;
  s.error_rtn = r.mean_error_rtn();
  s.error = r.mean_error();
  return s;
}

Reweighted<WeightMethodSummary> gptq_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data, const rewrite::QuantPlan& plan,
                      const calib::CalibTable& table) {
  PTQ_CHECK(data.calib);
  transform::GptqOptions o;
  o.act_order = job.act_order;
  o.threads = job.calib.threads;
  o.progress = job.calib.progress;
  transform::WeightMethodResult r =
      transform::gptq(prep.graph, plan, rewrite::resolve_params(prep.graph, plan, table), *data.calib, o);
  Reweighted<WeightMethodSummary> out;
  out.summary = weight_method_summary("gptq", r);
  if (r.layers.empty()) {
    log::warn("--weight-method gptq: no layer to quantize (", r.skipped.empty() ? "no Conv/Gemm/MatMul" : r.skipped.front(), ")");
    return out;
  }
  out.model = rewrite::replace_weights(prep.model, r.weights).model;
  out.graph = prep.graph;  // same nodes and shapes; GPTQ's weights replace the float ones
  for (auto& [name, value] : r.weights) out.graph.weights[name].value = std::move(value);
  out.changed = true;
  return out;
}

}  // namespace ptq::pipeline
