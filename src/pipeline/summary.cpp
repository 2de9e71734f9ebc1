// SPDX-License-Identifier: Apache-2.0
// The report of a quantize run: a human summary (stderr) and the same facts as JSON.
#include <cstdio>
#include <sstream>

#include "ptq/ir/model_info.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/report/format.h"

namespace ptq::pipeline {
namespace {

std::string spec_text(const rewrite::QuantOptions& q) {
  std::string s = rewrite::quant_mode_name(q.mode);
  if (q.mode == rewrite::QuantMode::Static)
    s += ", activations " + qtype_name(q.activation_type) + (q.symmetric_activations ? " symmetric" : " asymmetric");
  else
    s += " (" + rewrite::dynamic_format_name(q.dynamic_format) + ")";
  s += ", weights " + qtype_name(q.weight_type) + " symmetric " + (q.per_channel ? "per-channel" : "per-tensor");
  if (q.reduce_range) s += ", reduce-range";
  return s;
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
  if (r.folded_batch_norms) extra += ", " + std::to_string(r.folded_batch_norms) + " BatchNormalization folded";
  if (r.corrected_biases) extra += ", " + std::to_string(r.corrected_biases) + " biases corrected";
  std::snprintf(line, sizeof line, "  nodes: %zu quantized, %zu float, %zu folded into their producer%s\n", r.quantized_nodes,
                r.float_nodes, r.removed_nodes, extra.c_str());
  os << line;
  for (const auto& f : r.float_node_reasons) os << "    float: " << f << "\n";
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
    if (!r.auto_float.empty()) os << "auto-float: " << r.auto_float << "\n";
  }
  return os.str();
}

nlohmann::json summary_json(const QuantizeResult& r) {
  nlohmann::json j;
  j["model"] = r.model;
  j["output"] = r.output;
  j["mode"] = rewrite::quant_mode_name(r.quant.mode);
  j["method"] = r.method;
  if (!r.weight_range.empty()) j["weight_range"] = r.weight_range;
  j["activation_type"] = qtype_name(r.quant.activation_type);
  j["symmetric_activations"] = r.quant.symmetric_activations;
  j["weight_type"] = qtype_name(r.quant.weight_type);
  j["per_channel"] = r.quant.per_channel;
  j["calibration"] = {{"samples", r.calib_samples}, {"source", r.calib_source}, {"seconds", r.calib_seconds}};
  j["nodes"] = {{"quantized", r.quantized_nodes}, {"float", r.float_nodes}, {"folded", r.removed_nodes},
                {"batch_norms_folded", r.folded_batch_norms}, {"biases_corrected", r.corrected_biases}};
  j["bytes"] = {{"fp32", r.fp32_bytes}, {"quantized", r.quantized_bytes}};
  j["seconds"] = r.total_seconds;
  if (r.evaluated) {
    j["evaluation"] = report::eval_json(r.eval);
    j["evaluation"]["source"] = r.eval_source;
    j["evaluation"]["held_out"] = r.eval_held_out;
    if (!r.hint.empty()) j["hint"] = r.hint;
    if (!r.auto_float.empty()) j["auto_float"] = r.auto_float;
    j["float_first"] = r.quant.float_first;
    j["float_last"] = r.quant.float_last;
  }
  return j;
}

}  // namespace ptq::pipeline
