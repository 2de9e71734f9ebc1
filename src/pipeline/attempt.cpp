// SPDX-License-Identifier: Apache-2.0
// AttemptBuilder (see stages.h).
#include <iterator>

#include "ptq/ir/data_file_writer.h"
#include "ptq/rewrite/passes.h"
#include "stages.h"

namespace ptq::pipeline {
namespace {

// The tensors whose error the report lists: every quantized activation (those of bodies by their scoped
// names), compared in the quantized model after its own Q/DQ ("T_DequantizeLinear_Output") when there
// is one. A body's Q/DQ of a value from an enclosing graph is that graph's tensor: listed there.
void tensor_compares(const rewrite::QuantPlan& plan, const std::string& scope, const calib::CalibTable& table,
                     const Graph& quantized, std::vector<report::TensorCompare>& out) {
  for (const auto& kv : plan.tensors) {
    const rewrite::TensorPlan& tp = kv.second;
    if (tp.kind != rewrite::TensorPlan::Kind::Activation || tp.constant || tp.table_key() != scope + tp.tensor) continue;
    report::TensorCompare c;
    c.name = c.reference = tp.table_key();
    std::string dq = scope + tp.tensor + "_DequantizeLinear_Output";
    c.candidate = has_scoped_tensor(quantized, dq) ? dq : tp.table_key();
    auto it = table.tensors.find(tp.params_from.empty() ? tp.table_key() : plan.tensors.at(tp.params_from).table_key());
    if (it != table.tensors.end()) {
      c.has_qparams = true;
      c.qparams = it->second.qparams;
    }
    out.push_back(std::move(c));
  }
  for (const auto& sp : plan.subgraphs) tensor_compares(*sp.plan, sp.scope, table, quantized, out);
}

// The Y output (all time steps) of every LSTM/GRU/RNN, in bodies too, compared step by step.
std::vector<report::SequenceCompare> recurrent_sequences(const Graph& g) {
  std::vector<report::SequenceCompare> out;
  auto scan = [&](const std::string& scope, const Graph& graph) {
    for (const auto& n : graph.nodes) {
      if ((n.op_type != "LSTM" && n.op_type != "GRU" && n.op_type != "RNN") || !n.domain.empty() || n.outputs.empty() ||
          n.outputs[0].empty())
        continue;
      const std::string name = scope + n.outputs[0];
      out.push_back({name, name, name, n.attr_int("layout", 0) != 0 ? 1 : 0});
    }
  };
  scan("", g);
  for_each_subgraph(g, scan);
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

void AttemptBuilder::learn_rounding(const rewrite::QuantPlan& plan, const calib::CalibTable& table, bool float_inputs) {
  rounding_ = learn_rounding_stage(job_, prep_, data_, plan, table, float_inputs);
}

const transform::AdaRoundResult& AttemptBuilder::rounding(const rewrite::QuantPlan& plan, const calib::CalibTable& table) {
  if (!rounding_) learn_rounding(plan, table, false);
  return *rounding_;
}

void AttemptBuilder::apply_rounding(const rewrite::QuantPlan& plan, Graph& graph, calib::CalibTable& table) const {
  if (!rounding_) return;
  const transform::AdaRoundResult kept = transform::kept_rounding(*rounding_, plan);
  for (const auto& [name, value] : kept.weights) graph.weights[name].value = value;
  if (!kept.params.empty()) table = transform::rescaled_table(table, kept.params);
}

Attempt AttemptBuilder::build(const rewrite::QuantOptions& quant, const rewrite::QuantPlan& plan, const calib::CalibTable& table_in,
                              onnx_io::DataFileWriter* data_file) {
  const calib::CalibTable* used = &table_in;  // AdaRound's scale search may change weight parameters
  calib::CalibTable rescaled;
  Attempt at;
  at.quant = quant;
  at.plan = plan;
  const onnx::ModelProto* source = &prep_.model;
  const Graph* source_graph = &prep_.graph;
  Rounded rounded;
  if (job_.adaround > 0) {
    rounded = rounded_model(prep_, transform::kept_rounding(rounding(plan, table_in), plan));
    at.adaround = rounded.summary;
    if (!rounded.params.empty()) {
      rescaled = transform::rescaled_table(table_in, rounded.params);
      at.rescaled = rounded.params;
      used = &rescaled;
    }
  }
  const calib::CalibTable& table = *used;
  if (rounded.changed) {
    source = &rounded.model;
    source_graph = &rounded.graph;
  }
  Reweighted<WeightMethodSummary> reweighted;
  if (job_.weight_method == "gptq") {
    reweighted = gptq_stage(job_, prep_, data_, plan, table);
    at.weight_method = reweighted.summary;
    if (reweighted.changed) {
      source = &reweighted.model;
      source_graph = &reweighted.graph;
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
  at.quantized = rewrite::rewrite_model(*source, *source_graph, at.plan, table, data_file);
  if (!data_.eval) return at;
  // The float initializers the rewrite left in external data, and the weights it wrote to the data file.
  std::map<std::string, Tensor> external = prep_.loaded.mapped;
  if (data_file) external.insert(data_file->tensors().begin(), data_file->tensors().end());
  GraphOptions qoptions{false, {}};
  qoptions.mapped = &external;
  Graph qgraph = build_graph(at.quantized, qoptions);
  report::EvalOptions eo;
  eo.threads = job_.calib.threads;
  eo.progress = job_.calib.progress;
  tensor_compares(at.plan, "", table, qgraph, eo.tensors);
  eo.sequences = recurrent_sequences(prep_.graph);
  if (!job_.labels.empty()) eo.labels = report::read_labels(job_.labels);
  at.eval = report::evaluate(prep_.graph, qgraph, *data_.eval, eo);
  at.evaluated = true;
  // A method to suggest instead only when this run calibrated (not a loaded table, not dynamic).
  const bool calibrated = job_.load_table.empty() && quant.mode == rewrite::QuantMode::Static;
  at.hint = rounding_hint(quant, job_.adaround > 0, job_.bias_correction, job_.weight_method, at.eval);
  if (at.hint.empty()) at.hint = precision_hint(prep_.graph, quant, calibrated ? job_.calib.method : "", at.eval);
  return at;
}

}  // namespace ptq::pipeline
