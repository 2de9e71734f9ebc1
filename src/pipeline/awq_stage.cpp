// SPDX-License-Identifier: Apache-2.0
// The AWQ stage of run_quantize (stages.h), and the checks of --weight-method: transform::awq on the
// calibration samples with the parameters rounding to nearest would use; its scales folded into the model
// (rewrite::scale_channels, SmoothQuant's rewrite); the float model, its graph and the plan are replaced by
// the scaled ones (the same function), whose weights the rewrite then quantizes.
#include <algorithm>

#include "ptq/rewrite/passes.h"
#include "ptq/transform/awq.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

const std::vector<std::string>& weight_methods() {
  static const std::vector<std::string> names = {"rtn", "gptq", "awq"};
  return names;
}

void check_weight_method(const QuantizeJob& job) {
  const auto& names = weight_methods();
  if (std::find(names.begin(), names.end(), job.weight_method) == names.end())
    PTQ_FAIL(UsageError, "unknown --weight-method '", job.weight_method, "'; expected one of: rtn, gptq, awq");
  if (job.act_order && job.weight_method != "gptq") PTQ_FAIL(UsageError, "--act-order applies to --weight-method gptq");
  if (job.weight_method == "rtn") return;
  const std::string what = "--weight-method " + job.weight_method;
  if (job.quant.mode != rewrite::QuantMode::Dynamic)
    PTQ_FAIL(UsageError, what, " applies to weight-only quantization; add --mode dynamic");
  if (job.calib_dir.empty())
    PTQ_FAIL(UsageError, what, " needs calibration data (--calib DIR): it measures each layer's inputs");
  if (!job.load_table.empty()) PTQ_FAIL(UsageError, what, " cannot use --load-table (it computes the weights' parameters itself)");
  if (job.adaround > 0) PTQ_FAIL(UsageError, what, " cannot be combined with --adaround (both choose the rounding)");
}

void awq_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result) {
  PTQ_CHECK(data.calib);
  transform::AwqOptions o;
  o.weight_range = dynamic_weight_range(job);
  o.threads = job.calib.threads;
  o.progress = job.calib.progress;
  const calib::CalibTable rtn = rewrite::weight_table(prep.graph, prep.plan, o.weight_range);
  transform::WeightMethodResult r =
      transform::awq(prep.graph, prep.plan, rewrite::resolve_params(prep.graph, prep.plan, rtn), *data.calib, o);
  result.weight_method = weight_method_summary("awq", r);
  if (r.scales.empty()) {
    log::warn("--weight-method awq: no layer to scale (", r.skipped.empty() ? "no Gemm/MatMul" : r.skipped.front(), ")");
    return;
  }
  rewrite::SmoothQuantResult sq = rewrite::scale_channels(prep.model, prep.graph, r.scales);
  result.weight_method.scaled = sq.smoothed;
  result.weight_method.folded = sq.folded;
  log::info("AWQ: ", sq.smoothed, " activations scaled, ", sq.folded, " folded into their producer, ", sq.inserted, " through a Mul");
  replace_model(prep, std::move(sq.model), job);
}

}  // namespace ptq::pipeline
