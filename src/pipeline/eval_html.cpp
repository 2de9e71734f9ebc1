// SPDX-License-Identifier: Apache-2.0
// write_eval_html (quantize.h): `quantize eval --html FILE`, the HTML report of a comparison of two
// models: sizes, times, outputs, per-tensor error in the reference's graph order, and the candidate's
// precision per node read from its Q/DQ (report::qdq_layers). No calibration is at hand, so no
// histograms.
#include <cstdio>
#include <filesystem>

#include "ptq/ir/model_info.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/report/html_report.h"

namespace ptq::pipeline {

void write_eval_html(const std::string& path, const EvalHtmlInput& in) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto ref_bytes = static_cast<int64_t>(fs::file_size(in.reference_path, ec));
  const auto cand_bytes = ec ? 0 : static_cast<int64_t>(fs::file_size(in.candidate_path, ec));
  char text[160];
  report::HtmlReport h;
  h.title = "ptq eval: " + in.reference_path + " vs " + in.candidate_path;
  h.summary = {{"reference", in.reference_path}, {"candidate", in.candidate_path}, {"data", in.source}};
  std::snprintf(text, sizeof text, "%s -> %s (%.3fx)", format_bytes(ref_bytes).c_str(), format_bytes(cand_bytes).c_str(),
                ref_bytes ? static_cast<double>(cand_bytes) / static_cast<double>(ref_bytes) : 0.0);
  h.summary.emplace_back("size", text);
  std::snprintf(text, sizeof text, "reference %.2f s, candidate %.2f s (%zu samples)", in.eval.seconds_reference,
                in.eval.seconds_candidate, in.eval.samples);
  h.summary.emplace_back("time", text);
  std::snprintf(text, sizeof text, "worst output cosine %.6f", in.eval.worst_output_cosine());
  h.summary.emplace_back("accuracy", text);
  if (!in.gate.empty()) h.summary.emplace_back("gate", in.gate);
  h.eval = &in.eval;
  std::vector<std::string> order;
  for (const auto& i : in.reference.inputs) order.push_back(i.name);
  for (const auto& n : in.reference.nodes) order.insert(order.end(), n.outputs.begin(), n.outputs.end());
  h.errors = report::errors_in_order(in.eval, order);
  h.histogram_note = "eval has no calibration to show: the main command's --html draws each activation's histogram and range.";
  h.layers = report::qdq_layers(in.candidate);
  h.layer_note = "Nodes of " + in.candidate_path + " (Q/DQ left out), precision read from the DequantizeLinear nodes feeding them.";
  report::write_html(h, path);
}

}  // namespace ptq::pipeline
