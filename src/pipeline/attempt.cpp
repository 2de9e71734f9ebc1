// SPDX-License-Identifier: Apache-2.0
// AttemptBuilder (see stages.h).
#include <iterator>

#include "ptq/rewrite/passes.h"
#include "stages.h"

namespace ptq::pipeline {
namespace {

// The tensors whose error the report lists: every quantized activation, compared in the quantized
// model after its own Q/DQ ("T_DequantizeLinear_Output") when there is one.
std::vector<report::TensorCompare> tensor_compares(const rewrite::QuantPlan& plan, const calib::CalibTable& table,
                                                   const Graph& quantized) {
  std::vector<report::TensorCompare> out;
  for (const auto& kv : plan.tensors) {
    const rewrite::TensorPlan& tp = kv.second;
    if (tp.kind != rewrite::TensorPlan::Kind::Activation || tp.constant) continue;
    report::TensorCompare c;
    c.name = c.reference = tp.tensor;
    std::string dq = tp.tensor + "_DequantizeLinear_Output";
    c.candidate = quantized.producer(dq) >= 0 ? dq : tp.tensor;
    auto it = table.tensors.find(tp.params_from.empty() ? tp.tensor : tp.params_from);
    if (it != table.tensors.end()) {
      c.has_qparams = true;
      c.qparams = it->second.qparams;
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace

AttemptBuilder::AttemptBuilder(const QuantizeJob& job, const Prepared& prep, const DataSplit& data)
    : job_(job), prep_(prep), data_(data) {}

const std::map<std::string, std::vector<double>>& AttemptBuilder::bias_means(const rewrite::QuantPlan& plan,
                                                                          const calib::CalibTable& table) {
  std::map<std::string, int> missing = rewrite::bias_correction_inputs(prep_.graph, plan, table);
  for (auto it = missing.begin(); it != missing.end();) it = means_.count(it->first) ? missing.erase(it) : std::next(it);
  if (!missing.empty()) means_.merge(calib::channel_means(prep_.graph, missing, *data_.calib, job_.calib));
  return means_;
}

Attempt AttemptBuilder::build(const rewrite::QuantOptions& quant, const rewrite::QuantPlan& plan, const calib::CalibTable& table) {
  Attempt at;
  at.quant = quant;
  at.plan = plan;
  const onnx::ModelProto* source = &prep_.model;
  const Graph* source_graph = &prep_.graph;
  Rounded rounded;
  if (job_.adaround > 0) {
    rounded = adaround_stage(job_, prep_, data_, plan, table);
    at.adaround = rounded.summary;
    if (rounded.changed) {
      source = &rounded.model;
      source_graph = &rounded.graph;
    }
  }
  rewrite::PassResult corrected;
  Graph corrected_graph;
  if (job_.bias_correction) {
    corrected = rewrite::correct_biases(*source, *source_graph, plan, table, bias_means(plan, table));
    at.corrected_biases = corrected.changed;
    if (corrected.changed) {
      corrected_graph = build_graph(corrected.model, GraphOptions{true, prep_.loaded.external_tensors});
      at.plan = rewrite::plan_quantization(corrected_graph, quant);
      source = &corrected.model;
      source_graph = &corrected_graph;
    }
  }
  at.quantized = rewrite::rewrite_model(*source, *source_graph, at.plan, table);
  if (!data_.eval) return at;
  Graph qgraph = build_graph(at.quantized, GraphOptions{false, {}});
  report::EvalOptions eo;
  eo.threads = job_.calib.threads;
  eo.progress = job_.calib.progress;
  eo.tensors = tensor_compares(at.plan, table, qgraph);
  if (!job_.labels.empty()) eo.labels = report::read_labels(job_.labels);
  at.eval = report::evaluate(prep_.graph, qgraph, *data_.eval, eo);
  at.evaluated = true;
  // A method to suggest instead only when this run calibrated (not a loaded table, not dynamic).
  const bool calibrated = job_.load_table.empty() && quant.mode == rewrite::QuantMode::Static;
  at.hint = precision_hint(prep_.graph, quant, calibrated ? job_.calib.method : "", at.eval);
  return at;
}

}  // namespace ptq::pipeline
