// SPDX-License-Identifier: Apache-2.0
// The report of a quantize run: a human summary (stderr) and the same facts as JSON.
#include <cstdio>
#include <sstream>

#include "ptq/ir/model_info.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/report/format.h"
#include "ptq/search/layers.h"
#include "stages.h"

namespace ptq::pipeline {

std::string weights_text(const rewrite::QuantOptions& q) {
  std::string s = qtype_name(q.weight_type) + (q.asymmetric_weights ? " asymmetric " : " symmetric ") + (q.per_channel ? "per-channel" : "per-tensor");
  const rewrite::EdgeLayers e = rewrite::int8_edges(q);
  if (!e.any()) return s;
  std::string layers;  // "the first F and last L compute layers", either end alone, or ""
  if (e.first > 0) layers = "first " + std::to_string(e.first);
  if (e.last > 0) layers += (layers.empty() ? "last " : " and last ") + std::to_string(e.last);
  if (!layers.empty()) layers = "the " + layers + (e.first + e.last == 1 ? " compute layer" : " compute layers");
  const std::string tables = e.embeddings ? (layers.empty() ? "" : ", ") + std::string("embedding tables") : "";
  return s + " (" + qtype_name(rewrite::edge_weight_spec(q).type) + ": " + layers + tables + ")";
}

namespace {

std::string spec_text(const rewrite::QuantOptions& q) {
  std::string s = rewrite::quant_mode_name(q.mode);
  if (q.mode == rewrite::QuantMode::Static)
    s += ", activations " + qtype_name(q.activation_type) + (q.symmetric_activations ? " symmetric" : " asymmetric");
  else
    s += " (" + rewrite::dynamic_format_name(q.dynamic_format) + ")";
  s += ", weights " + weights_text(q);
  if (q.block_size > 0)
    s += " (MatMul/Gemm/Gather: blocks of " + std::to_string(q.block_size) + ", " +
         (q.int4_format == rewrite::Int4Format::MatMulNBits ? "MatMulNBits" : "DequantizeLinear") + ")";
  if (q.reduce_range) s += ", reduce-range";
  return s;
}

std::string tolerance_text(const search::Tolerance& t) {
  char text[128];
  std::string s;
  if (t.target_cosine > 0.0) std::snprintf(text, sizeof text, "--target-cosine %.10g", t.target_cosine), s += text;
  if (t.max_drop >= 0.0) std::snprintf(text, sizeof text, "%s--max-drop %.10g", s.empty() ? "" : " ", t.max_drop), s += text;
  return s;
}

std::string attempt_text(const search::SearchAttempt& a) {
  char text[160];
  std::snprintf(text, sizeof text, "%zu %s: cosine %.4f", a.promoted.size(), a.promoted.empty() ? "promoted" : search::fallback_name(a.fallback).c_str(),
                a.worst_cosine);
  std::string s = text;
  if (a.dithered_cosine >= 0.0) std::snprintf(text, sizeof text, " (dithered inputs %.4f)", a.dithered_cosine), s += text;
  if (a.has_accuracy) std::snprintf(text, sizeof text, ", top-1 %.2f %%", 100.0 * a.accuracy), s += text;
  if (!a.note.empty()) s += " (" + a.note + ")";
  return s + (a.meets ? " meets" : "");
}

std::string format_precision(const PrecisionSummary& p) {
  std::ostringstream os;
  char line[512];
  const std::string fb = search::fallback_name(p.fallback);
  std::snprintf(line, sizeof line, "precision: %s %s: %zu layer%s %s, %.1f %% of the MACs in 8 bits; %zu attempts in %.1f s\n",
                tolerance_text(p.tolerance).c_str(), p.met ? "met" : "NOT met (the best model found was written)", p.promoted.size(),
                p.promoted.size() == 1 ? "" : "s", fb.c_str(), 100.0 * p.macs.share(), p.attempts.size(), p.seconds);
  os << line;
  for (const auto& l : p.promoted) {
    std::snprintf(line, sizeof line, "  %s: %s (%s, %s MACs; alone it gives output cosine %.4f)\n", fb.c_str(), l.label.c_str(),
                  l.op_type.c_str(), format_count(l.macs).c_str(), l.alone_cosine);
    os << line;
  }
  for (size_t i = 0; i < p.attempts.size(); ++i) os << "  attempt " << i + 1 << ": " << attempt_text(p.attempts[i]) << "\n";
  return os.str();
}

nlohmann::json precision_json(const PrecisionSummary& p) {
  nlohmann::json j;
  if (p.tolerance.target_cosine > 0.0) j["target_cosine"] = p.tolerance.target_cosine;
  if (p.tolerance.max_drop >= 0.0) j["max_drop"] = p.tolerance.max_drop;
  j["fallback"] = search::fallback_name(p.fallback);
  j["met"] = p.met;
  j["int8_mac_share"] = p.macs.share();
  j["macs"] = {{"int8", p.macs.int8}, {"total", p.macs.total}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : p.promoted)
    j["layers"].push_back({{"name", l.label}, {"op_type", l.op_type}, {"precision", search::fallback_name(p.fallback)},
                           {"macs", l.macs}, {"alone_cosine", l.alone_cosine}});
  j["attempts"] = nlohmann::json::array();
  for (const auto& a : p.attempts) {
    nlohmann::json x = {{"promoted", a.promoted.size()}, {"fallback", search::fallback_name(a.fallback)}, {"cosine", a.worst_cosine}, {"meets", a.meets}};
    if (a.dithered_cosine >= 0.0) x["cosine_dithered"] = a.dithered_cosine;
    if (a.has_accuracy) x["top1"] = a.accuracy;
    if (!a.note.empty()) x["note"] = a.note;
    j["attempts"].push_back(x);
  }
  j["seconds"] = p.seconds;
  return j;
}

// "  AdaRound: ..." (empty when it did not run).
std::string format_adaround(const AdaRoundSummary& a) {
  if (!a.ran) return "";
  char line[512];
  std::string extra;
  if (a.biases_corrected) extra += ", " + std::to_string(a.biases_corrected) + " biases corrected";
  if (a.float_inputs) extra += ", learned on FP32 inputs for the precision search";
  if (!a.skipped.empty()) extra += ", " + std::to_string(a.skipped.size()) + " Conv/Gemm/MatMul left as they are (-v: why)";
  std::snprintf(line, sizeof line,
                "  AdaRound: %zu layers, %d iterations each, %zu samples, %.1f s; reconstruction error (mean relative) "
                "%.4g nearest -> %.4g%s\n",
                a.layers.size(), a.iterations, a.samples, a.seconds, a.error_nearest, a.error, extra.c_str());
  return line;
}

// "  weight method: ..." (empty for rtn).
std::string format_weight_method(const WeightMethodSummary& w) {
  if (!w.ran) return "";
  char line[512];
  std::string extra;
  if (w.method == "awq") extra += ", " + std::to_string(w.scaled) + " inputs scaled (" + std::to_string(w.folded) + " folded)";
  if (!w.skipped.empty()) extra += ", " + std::to_string(w.skipped.size()) + " Conv/Gemm/MatMul left as they are (-v: why)";
  std::snprintf(line, sizeof line,
                "  weight method: %s, %zu layers, %zu samples, %.1f s; output error (mean relative) %.4g RTN -> %.4g%s\n",
                w.method.c_str(), w.layers.size(), w.samples, w.seconds, w.error_rtn, w.error, extra.c_str());
  return line;
}

nlohmann::json weight_method_json(const WeightMethodSummary& w) {
  nlohmann::json j = {{"method", w.method}, {"samples", w.samples}, {"seconds", w.seconds}, {"error_rtn", w.error_rtn},
                      {"error", w.error}, {"skipped", w.skipped}, {"scaled", w.scaled}, {"folded", w.folded}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : w.layers)
    j["layers"].push_back({{"name", l.label}, {"op_type", l.op_type}, {"weight", l.weight}, {"rows", l.rows}, {"depth", l.depth},
                           {"columns", l.columns}, {"error_rtn", l.error_rtn}, {"error", l.error}});
  return j;
}

nlohmann::json adaround_json(const AdaRoundSummary& a) {
  nlohmann::json j = {{"iterations", a.iterations}, {"samples", a.samples}, {"seconds", a.seconds},
                      {"error_nearest", a.error_nearest}, {"error", a.error}, {"skipped", a.skipped},
                      {"biases_corrected", a.biases_corrected}, {"inputs", a.float_inputs ? "float" : "quantized"}};
  j["layers"] = nlohmann::json::array();
  for (const auto& l : a.layers)
    j["layers"].push_back({{"name", l.label}, {"op_type", l.op_type}, {"weight", l.weight}, {"groups", l.groups},
                           {"rows", l.rows}, {"depth", l.depth}, {"columns", l.columns}, {"error_nearest", l.error_nearest},
                           {"error", l.error}, {"flipped", l.flipped}, {"channels_kept_nearest", l.kept_nearest},
                           {"bias_corrected", l.bias_corrected}});
  return j;
}

}  // namespace

std::string format_summary(const QuantizeResult& r) {
  std::ostringstream os;
  char line[512];
  os << "quantized " << r.model << " -> " << r.output << "\n";
  os << "  " << spec_text(r.quant) << "\n";
  const std::string method = r.method + (r.weight_range.empty() ? "" : " (weight ranges: " + r.weight_range + ")");
  if (r.calib_samples > 0) {
    std::snprintf(line, sizeof line, "  calibration: %s, %zu samples in %.2f s (%.1f samples/s) from %s\n", method.c_str(),
                  r.calib_samples, r.calib_seconds, r.calib_seconds > 0 ? r.calib_samples / r.calib_seconds : 0.0,
                  r.calib_source.c_str());
  } else {
    std::snprintf(line, sizeof line, "  parameters: %s\n", method.c_str());
  }
  os << line;
  std::string extra;
  if (r.qat_weights) extra += ", " + std::to_string(r.qat_weights) + " QAT weights folded into integers";
  if (r.folded_batch_norms) extra += ", " + std::to_string(r.folded_batch_norms) + " BatchNormalization folded";
  if (r.corrected_biases) extra += ", " + std::to_string(r.corrected_biases) + " biases corrected";
  if (r.equalized_outputs + r.equalized_inputs)
    extra += ", channels equalized on " + std::to_string(r.equalized_outputs) + " Conv output(s) and " + std::to_string(r.equalized_inputs) +
             " Conv input(s)";
  if (r.split_convs)
    extra += ", " + std::to_string(r.split_convs) + " Conv output(s) split into " + std::to_string(r.split_groups) + " channel groups";
  if (r.smoothed)
    extra += ", " + std::to_string(r.smoothed) + " MatMul/Gemm inputs smoothed (" + std::to_string(r.smoothed_folded) + " folded)";
  const std::string in_patterns = r.pattern_nodes ? " (" + std::to_string(r.pattern_nodes) + " inside patterns)" : "";
  const std::string shapes = r.shape_nodes ? ", " + std::to_string(r.shape_nodes) + " shape arithmetic" : "";
  std::snprintf(line, sizeof line, "  nodes: %zu quantized%s, %zu float, %zu folded into their producer%s%s\n", r.quantized_nodes,
                in_patterns.c_str(), r.float_nodes, r.removed_nodes, shapes.c_str(), extra.c_str());
  os << line;
  for (const auto& f : r.float_node_reasons) os << "    float: " << f << "\n";
  os << format_adaround(r.adaround);
  os << format_weight_method(r.weight_method);
  std::snprintf(line, sizeof line, "  size: %s -> %s (%.3fx)\n", format_bytes(r.fp32_bytes).c_str(),
                format_bytes(r.quantized_bytes).c_str(), r.fp32_bytes ? static_cast<double>(r.quantized_bytes) / r.fp32_bytes : 0.0);
  os << line;
  std::snprintf(line, sizeof line, "  time: %.2f s in total\n", r.total_seconds);
  os << line;
  if (r.evaluated) {
    os << "evaluation on " << r.eval_source << (r.eval_held_out ? "" : " (calibration samples: the set is too small to hold some out)")
       << "\n";
    os << report::format_eval(r.eval);
    if (!r.hint.empty()) os << "hint: " << r.hint << "\n";
  }
  if (r.precision.ran) os << format_precision(r.precision);
  return os.str();
}

nlohmann::json summary_json(const QuantizeResult& r) {
  nlohmann::json j;
  j["schema"] = report::kJsonSchema;
  j["model"] = r.model;
  j["output"] = r.output;
  j["mode"] = rewrite::quant_mode_name(r.quant.mode);
  if (!r.target.empty()) j["target"] = r.target;
  j["method"] = r.method;
  if (!r.weight_range.empty()) j["weight_range"] = r.weight_range;
  j["activation_type"] = qtype_name(r.quant.activation_type);
  j["symmetric_activations"] = r.quant.symmetric_activations;
  j["weight_type"] = qtype_name(r.quant.weight_type);
  j["per_channel"] = r.quant.per_channel;
  j["asymmetric_weights"] = r.quant.asymmetric_weights;
  const rewrite::EdgeLayers edges = rewrite::int8_edges(r.quant);
  j["int8_first"] = edges.first;
  j["int8_last"] = edges.last;
  j["int8_embeddings"] = edges.embeddings;
  j["block_size"] = r.quant.block_size;
  j["int4_format"] = rewrite::int4_format_name(r.quant.int4_format);
  j["weight_method"] = r.weight_method.method;
  j["calibration"] = {{"samples", r.calib_samples}, {"source", r.calib_source}, {"seconds", r.calib_seconds}};
  j["nodes"] = {{"quantized", r.quantized_nodes}, {"float", r.float_nodes}, {"folded", r.removed_nodes},
                {"shape_arithmetic", r.shape_nodes}, {"in_patterns", r.pattern_nodes},
                {"smoothed", r.smoothed}, {"smoothed_folded", r.smoothed_folded},
                {"equalized_outputs", r.equalized_outputs}, {"equalized_inputs", r.equalized_inputs},
                {"split_convs", r.split_convs}, {"split_groups", r.split_groups},
                {"batch_norms_folded", r.folded_batch_norms}, {"qat_weights_folded", r.qat_weights}, {"biases_corrected", r.corrected_biases}};
  j["bytes"] = {{"fp32", r.fp32_bytes}, {"quantized", r.quantized_bytes}};
  j["seconds"] = r.total_seconds;
  if (r.evaluated) {
    j["evaluation"] = report::eval_json(r.eval);
    j["evaluation"]["source"] = r.eval_source;
    j["evaluation"]["held_out"] = r.eval_held_out;
    if (!r.hint.empty()) j["hint"] = r.hint;
    j["float_first"] = r.quant.float_first;
    j["float_last"] = r.quant.float_last;
  }
  if (r.precision.ran) j["precision"] = precision_json(r.precision);
  if (!r.exports.empty()) {
    j["exports"] = nlohmann::json::array();
    for (const auto& e : r.exports)
      j["exports"].push_back({{"format", e.format}, {"path", e.path}, {"entries", e.entries}, {"skipped", e.skipped}});
  }
  if (r.adaround.ran) j["adaround"] = adaround_json(r.adaround);
  if (r.weight_method.ran) j["weight_method_report"] = weight_method_json(r.weight_method);
  return j;
}

}  // namespace ptq::pipeline
