// SPDX-License-Identifier: Apache-2.0
// The main command's --html report (stages.h): the run's summary, the written model's per-tensor error
// in graph order, each calibrated activation's histogram (FP32, first kHtmlHistogramSamples calibration
// samples, kHtmlHistogramBins bins over the observed range and the chosen one) and each compute node's
// precision with the reason, from the final plan.
#include <algorithm>
#include <cstdio>
#include <set>

#include "ptq/ir/model_info.h"
#include "ptq/report/html_report.h"
#include "stages.h"

namespace ptq::pipeline {
namespace {

using Kind = rewrite::TensorPlan::Kind;

constexpr size_t kHtmlHistogramSamples = 16;
constexpr size_t kHtmlHistogramBins = 64;

// Graph inputs, then every node's outputs: the order of the error chart and the histograms.
std::vector<std::string> tensor_order(const Graph& graph) {
  std::vector<std::string> order;
  for (const auto& in : graph.inputs) order.push_back(in.name);
  for (const auto& node : graph.nodes)
    for (const auto& o : node.outputs) order.push_back(o);
  return order;
}

std::string ratio_text(int64_t from, int64_t to) {
  char text[96];
  std::snprintf(text, sizeof text, "%s -> %s (%.3fx)", format_bytes(from).c_str(), format_bytes(to).c_str(),
                from ? static_cast<double>(to) / static_cast<double>(from) : 0.0);
  return text;
}

std::vector<std::pair<std::string, std::string>> summary_rows(const QuantizeResult& r) {
  char text[160];
  std::vector<std::pair<std::string, std::string>> rows = {{"model", r.model}, {"output", r.output}};
  rows.emplace_back("mode", rewrite::quant_mode_name(r.quant.mode) + ", activations " + qtype_name(r.quant.activation_type) +
                                (r.quant.symmetric_activations ? " symmetric" : " asymmetric") + ", weights " + weights_text(r.quant));
  rows.emplace_back("calibration", r.method + (r.calib_samples ? ", " + std::to_string(r.calib_samples) + " samples from " + r.calib_source : ""));
  rows.emplace_back("nodes", std::to_string(r.quantized_nodes) + " quantized, " + std::to_string(r.float_nodes) + " float, " +
                                 std::to_string(r.removed_nodes) + " folded into their producer");
  rows.emplace_back("size", ratio_text(r.fp32_bytes, r.quantized_bytes));
  std::snprintf(text, sizeof text, "%.2f s in total, calibration %.2f s", r.total_seconds, r.calib_seconds);
  rows.emplace_back("time", text);
  if (r.evaluated) {
    std::snprintf(text, sizeof text, "worst output cosine %.6f on %s", r.eval.worst_output_cosine(), r.eval_source.c_str());
    rows.emplace_back("accuracy", text);
  }
  if (r.precision.ran)
    rows.emplace_back("tolerance", std::string(r.precision.met ? "met" : "NOT met") + ", " + std::to_string(r.precision.promoted.size()) +
                                       " layer(s) promoted to " + search::fallback_name(r.precision.fallback));
  if (!r.hint.empty()) rows.emplace_back("hint", r.hint);
  return rows;
}

// The types a node reads and writes quantized: "activations / weights".
std::string node_precision(const Node& node, const rewrite::QuantPlan& plan) {
  std::set<std::string> acts, weights;
  for (const auto* names : {&node.inputs, &node.outputs})
    for (const auto& t : *names) {
      auto it = plan.tensors.find(t);
      if (it == plan.tensors.end()) continue;
      if (it->second.kind == Kind::Activation) acts.insert(qtype_name(it->second.spec.type));
      else if (it->second.kind == Kind::Weight) weights.insert(qtype_name(it->second.spec.type));
    }
  auto join = [](const std::set<std::string>& s) {
    std::string out;
    for (const auto& x : s) out += (out.empty() ? "" : "+") + x;
    return out.empty() ? std::string("float") : out;
  };
  return join(acts) + " / " + (weights.empty() ? std::string("-") : join(weights));
}

std::vector<report::HtmlLayer> layers(const Graph& graph, const rewrite::QuantPlan& plan, const QuantizeResult& r) {
  std::vector<report::HtmlLayer> out;
  const auto& promoted = plan.options.precision;
  for (size_t i = 0; i < graph.nodes.size() && i < plan.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    const rewrite::NodePlan& np = plan.nodes[i];
    if (!np.compute) continue;
    report::HtmlLayer l{node.name.empty() ? node.op_type + " writing " + (node.outputs.empty() ? "" : node.outputs[0]) : node.name,
                        node.op_type, "float", ""};
    const int idx = static_cast<int>(i);
    if (np.removed) {
      l.precision = "folded";
      l.why = "folded into its producer's range";
    } else if (!np.quantized) {
      l.why = promoted.float_nodes.count(idx) ? "kept float by the precision search" : np.reason.empty() ? "no quantization rule" : np.reason;
    } else {
      l.precision = node_precision(node, plan);
      l.why = promoted.wide_nodes.count(idx) ? "promoted to 16 bits by the precision search" : "rule: " + np.family;
      for (const auto& p : r.precision.promoted)
        if (p.label == l.name) l.why += " (quantized alone, output cosine " + std::to_string(p.alone_cosine) + ")";
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<report::HtmlHistogram> histograms(const Graph& graph, const rewrite::QuantPlan& plan, const calib::CalibTable& table) {
  std::vector<report::HtmlHistogram> out;
  std::set<std::string> seen;
  for (const auto& name : tensor_order(graph)) {
    auto p = plan.tensors.find(name);
    if (p == plan.tensors.end() || p->second.kind != Kind::Activation || !p->second.params_from.empty() || !seen.insert(name).second) continue;
    auto e = table.tensors.find(p->second.table_key());
    if (e == table.tensors.end() || e->second.range.size() != 1) continue;
    const calib::TensorCalib& c = e->second;
    report::HtmlHistogram h;
    h.tensor = name;
    h.method = c.method;
    h.dtype = qtype_name(c.qparams.type);
    h.chosen = c.range[0];
    h.observed = c.min.size() == 1 && c.max.size() == 1 ? Range{c.min[0], c.max[0]} : c.range[0];
    h.lo = std::min(h.chosen.lo, h.observed.lo);
    h.hi = std::max(h.chosen.hi, h.observed.hi);
    h.counts.assign(kHtmlHistogramBins, 0.0);
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

void html_stage(const QuantizeJob& job, const Prepared& prep, const rewrite::QuantPlan& plan, const calib::CalibTable& table,
                const DataSplit& data, const QuantizeResult& r) {
  report::HtmlReport h;
  h.title = "ptq: " + r.model + " -> " + r.output;
  h.summary = summary_rows(r);
  if (r.evaluated) {
    h.eval = &r.eval;
    h.errors = report::errors_in_order(r.eval, tensor_order(prep.graph));
  }
  const calib::DataReader* samples = data.calib ? data.calib.get() : data.eval.get();
  if (r.quant.mode == rewrite::QuantMode::Dynamic) {
    h.histogram_note = "Dynamic mode: activations are quantized at run time, no calibrated ranges.";
  } else if (!samples) {
    h.histogram_note = "No samples to draw histograms from.";
  } else {
    h.histograms = histograms(prep.graph, plan, table);
    report::fill_histograms(prep.graph, h.histograms, *samples, kHtmlHistogramSamples, job.calib.threads);
    h.histogram_note = "FP32 values of the first " + std::to_string(std::min(kHtmlHistogramSamples, samples->size())) + " samples of " +
                       samples->describe() + ", " + std::to_string(kHtmlHistogramBins) +
                       " bins, log-scaled counts. Red: the range calibration chose; grey dashed: the observed min/max "
                       "(what minmax would choose).";
  }
  h.layers = layers(prep.graph, plan, r);
  h.layer_note = "Compute nodes of the model graph in graph order (shape arithmetic left out).";
  report::write_html(h, job.html_path);
}

}  // namespace ptq::pipeline
