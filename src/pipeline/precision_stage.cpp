// SPDX-License-Identifier: Apache-2.0
// The precision stage (see stages.h): search::search_precision on the evaluation samples with the
// calibration just made, and what the report says about it.
#include <algorithm>

#include "ptq/rewrite/target.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {

bool tolerance_met(const QuantizeJob& job, const report::EvalResult& eval) {
  return search::meets(job.tolerance, eval.worst_output_cosine(), eval.has_accuracy, eval.accuracy_candidate, eval.accuracy_reference);
}

namespace {

// The search with --adaround (README: Mixed precision). First what --adaround alone writes: every layer
// 8-bit, the rounding learned on the quantized model's inputs, which also corrects the error of the
// layers above; when that meets the tolerance, nothing needs promoting. Else the rounding is learned
// again on FP32 inputs, which stays right whichever layers above are promoted, and the search runs
// with it (each candidate keeping the rounding of the layers it leaves in 8 bits); the first attempt
// is listed with a note.
search::SearchResult rounded_search(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                    const calib::CalibTable& table, AttemptBuilder& builder, search::SearchOptions so) {
  so.reweight = [&builder](const rewrite::QuantPlan& plan, Graph& g, calib::CalibTable& t) { builder.apply_rounding(plan, g, t); };
  search::References references;  // the FP32 outputs: computed by the first search, reused by the second
  so.references = &references;
  builder.learn_rounding(prep.plan, table, false);
  so.base_only = true;
  search::SearchResult plain = search::search_precision(prep.graph, job.quant, table, *data.eval, so);
  if (plain.met) return plain;
  log::info("precision search: every layer 8-bit with AdaRound misses the tolerance; learning the rounding again on FP32 "
            "inputs for the search");
  builder.learn_rounding(prep.plan, table, true);
  so.base_only = false;
  search::SearchResult r = search::search_precision(prep.graph, job.quant, table, *data.eval, so);
  search::SearchAttempt first = plain.attempts.front();
  first.note = "AdaRound on the quantized model's inputs, as --adaround alone";
  r.attempts.insert(r.attempts.begin(), first);
  r.seconds += plain.seconds;
  ++r.chosen;
  return r;
}

}  // namespace

rewrite::QuantOptions search_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                   calib::CalibTable& table, AttemptBuilder& builder, PrecisionSummary& summary) {
  if (!data.eval)
    PTQ_FAIL(UsageError, "--target-cosine/--max-drop need evaluation samples: --eval-data DIR, or a --calib set of 5 or more "
             "samples to hold some out (not --eval-samples 0)");
  search::SearchOptions so;
  so.tolerance = job.tolerance;
  so.fallback = job.fallback;
  so.sensitivity_samples = job.sensitivity_samples;
  so.threads = job.calib.threads;
  so.progress = job.calib.progress;
  if (!job.labels.empty()) so.labels = report::read_labels(job.labels);
  if (job.bias_correction) so.bias_means = &builder.bias_means(prep.plan, table);
  if (data.calib && job.load_table.empty() && job.quant.mode == rewrite::QuantMode::Static)
    so.calibrate = [&](const std::vector<calib::CalibTarget>& targets) {
      return calib::calibrate(prep.graph, targets, *data.calib, job.calib);
    };
  warn_body_quantizers(prep.plan, "the precision search");
  search::SearchResult r = job.adaround > 0 ? rounded_search(job, prep, data, table, builder, so)
                                            : search::search_precision(prep.graph, job.quant, table, *data.eval, so);
  table = r.table;
  summary.ran = true;
  summary.tolerance = job.tolerance;
  summary.fallback = r.best().fallback;
  summary.attempts = r.attempts;
  summary.seconds = r.seconds;
  const std::vector<size_t>& promoted = r.best().promoted;
  for (size_t k : promoted) {
    const search::Layer& l = r.layers[k];
    PrecisionSummary::Promoted p{l.label, l.op_type, l.macs, 1.0};
    if (k < r.sensitivity.layers.size()) p.alone_cosine = r.sensitivity.layers[k].only_cosine();
    summary.promoted.push_back(p);
  }
  rewrite::QuantOptions quant = job.quant;
  quant.precision = r.overrides;
  summary.macs = search::mac_share(prep.graph, rewrite::plan_quantization(prep.graph, quant), r.macs);
  log::info("precision search: ", r.attempts.size(), " attempts in ", r.seconds, " s; ", promoted.size(), " layer(s) ",
            search::fallback_name(r.best().fallback), r.met ? "" : " (the tolerance was not reached; keeping the best found)");
  // 16-bit layers are for runtimes with 16-bit kernels (NPUs: QNN HTP); the target table says which.
  const rewrite::Target& target = rewrite::effective_target(job.target);
  if (!target.int16_kernels && r.best().fallback == search::Fallback::Int16 && !promoted.empty())
    log::info("--target ", target.name, job.target.empty() ? " (the default)" : "", " has no 16-bit kernels: it runs the ",
              promoted.size(), " int16 layer(s) in float between 16-bit QuantizeLinear/DequantizeLinear, slower than float "
              "layers (YOLOX-nano at --target-cosine 0.99 in ONNX Runtime: 1.57x FP32's latency, 1.15x with --fallback "
              "float); for that runtime use --fallback float");
  return quant;
}

void warn_body_quantizers(const rewrite::QuantPlan& plan, const char* what) {
  size_t top = 0;
  for (const auto& n : plan.nodes) top += n.quantized && !n.removed;
  const size_t bodies = plan.quantized_node_count() - top;
  if (bodies == 0) return;
  log::warn(what, " ranks and promotes the model graph's layers only: the ", bodies,
            " quantized node(s) inside If/Loop bodies stay 8-bit and its simulation runs those bodies in float; "
            "the written model's evaluation includes them");
}

}  // namespace ptq::pipeline
