// SPDX-License-Identifier: Apache-2.0
// run_sensitivity and its report (see sensitivity.h).
#include "ptq/pipeline/sensitivity.h"

#include <cstdio>
#include <sstream>

#include "ptq/ir/model_info.h"
#include "ptq/report/format.h"
#include "stages.h"

namespace ptq::pipeline {

SensitivityReport run_sensitivity(const QuantizeJob& given) {
  QuantizeJob job = given;  // --equalize sets what its pass keeps float
  rewrite::validate_options(job.quant);
  if (job.smooth_quant_alpha >= 0.0f) PTQ_FAIL(UsageError, "--smooth-quant applies to the main command only, not to `quantize sensitivity`");
  if (job.weight_method != "rtn") PTQ_FAIL(UsageError, "--weight-method applies to the main command only, not to `quantize sensitivity`");
  if (job.bias_correction)
    PTQ_FAIL(UsageError, "--bias-correction applies to the main command only: `quantize sensitivity` ranks nearest-rounded weights");
  if (job.calib_dir.empty() && job.load_table.empty())
    PTQ_FAIL(UsageError, "sensitivity needs calibration data (--calib DIR) or a table (--load-table FILE)");
  Prepared prep = prepare(job);
  const DataSplit data = split_data(job, prep.graph);
  shape_stage(job, prep, data, false);
  if (!data.eval)
    PTQ_FAIL(UsageError, "sensitivity needs evaluation samples: --eval-data DIR, or a --calib set of 5 or more samples to hold some out");
  SensitivityReport r;
  if (job.split_channels) {  // the layers of the split model, as the main command quantizes it
    QuantizeResult split;
    split_stage(job, prep, data, split);
    r.split_convs = split.split_convs;
    r.split_groups = split.split_groups;
  }
  if (job.equalize) {  // the layers of the equalized model, as the main command quantizes it
    QuantizeResult eq;
    equalize_stage(job, prep, data, eq);
    r.equalized_outputs = eq.equalized_outputs;
    r.equalized_inputs = eq.equalized_inputs;
  }
  r.model = job.model;
  calib::CalibTable table;
  if (!job.load_table.empty()) {
    table = calib::load_table(job.load_table);
    r.method = "table " + job.load_table;
  } else if (job.quant.mode == rewrite::QuantMode::Dynamic) {
    table = rewrite::weight_table(prep.graph, prep.plan, dynamic_weight_range(job));
    r.method = "weights (dynamic)";
  } else {
    table = calib::calibrate(prep.graph, rewrite::calib_targets(prep.plan), *data.calib, job.calib);
    r.method = job.calib.method;
    r.calib_samples = table.samples;
  }
  warn_body_quantizers(prep.plan, "sensitivity");
  r.layers = search::find_layers(prep.graph, prep.plan);
  search::QuantSim sim(prep.graph, prep.plan, rewrite::resolve_params(prep.graph, prep.plan, table), 1);
  search::SensitivityOptions so;
  so.samples = job.sensitivity_samples;
  so.threads = job.calib.threads;
  so.progress = job.calib.progress;
  r.result = search::analyze_sensitivity(prep.graph, sim, r.layers, *data.eval, so);
  r.eval_source = data.eval->describe();
  return r;
}

std::string format_sensitivity(const SensitivityReport& r, size_t max_rows) {
  std::ostringstream os;
  char line[512];
  std::snprintf(line, sizeof line, "sensitivity of %s: %zu layers, %s, %zu samples of %s, %.1f s\n", r.model.c_str(), r.layers.size(),
                r.method.c_str(), r.result.samples, r.eval_source.c_str(), r.result.seconds);
  os << line;
  if (r.split_convs > 0)
    os << r.split_convs << " Conv output(s) split into " << r.split_groups << " channel groups\n";
  if (r.equalized_outputs + r.equalized_inputs > 0)
    os << "channels equalized on " << r.equalized_outputs << " Conv output(s) and " << r.equalized_inputs << " Conv input(s)\n";
  std::snprintf(line, sizeof line, "every layer quantized: output cosine %.6f, SNR %.2f dB\n", search::worst_cosine(r.result.quantized),
                search::worst_snr_db(r.result.quantized));
  os << line;
  std::snprintf(line, sizeof line, "  %-4s %-44s %-12s %10s  %10s %8s  %10s %8s\n", "rank", "layer", "op", "MACs", "only cos", "SNR dB",
                "except cos", "SNR dB");
  os << line;
  const std::vector<size_t> order = r.result.ranking();
  for (size_t k = 0; k < order.size() && k < max_rows; ++k) {
    const search::Layer& l = r.layers[order[k]];
    const search::LayerSensitivity& s = r.result.layers[order[k]];
    std::string name = l.label.size() > 44 ? l.label.substr(0, 41) + "..." : l.label;
    std::snprintf(line, sizeof line, "  %-4zu %-44s %-12s %10s  %10.6f %8.2f  %10.6f %8.2f\n", k + 1, name.c_str(), l.op_type.c_str(),
                  format_count(l.macs).c_str(), s.only_cosine(), s.only_snr_db(), s.except_cosine(), s.except_snr_db());
    os << line;
  }
  if (order.size() > max_rows) os << "  ... " << order.size() - max_rows << " more (--json lists every layer)\n";
  return os.str();
}

nlohmann::json sensitivity_json(const SensitivityReport& r) {
  nlohmann::json j;
  j["schema"] = report::kJsonSchema;
  j["model"] = r.model;
  j["method"] = r.method;
  j["samples"] = r.result.samples;
  j["source"] = r.eval_source;
  j["seconds"] = r.result.seconds;
  j["outputs"] = r.result.outputs;
  j["equalized_outputs"] = r.equalized_outputs;
  j["equalized_inputs"] = r.equalized_inputs;
  j["split_convs"] = r.split_convs;
  j["split_groups"] = r.split_groups;
  j["quantized"] = {{"cosine", report::json_number(search::worst_cosine(r.result.quantized))},
                    {"snr_db", report::json_number(search::worst_snr_db(r.result.quantized))}};
  j["layers"] = nlohmann::json::array();
  for (size_t k : r.result.ranking()) {
    const search::Layer& l = r.layers[k];
    const search::LayerSensitivity& s = r.result.layers[k];
    j["layers"].push_back({{"name", l.name},
                           {"label", l.label},
                           {"op_type", l.op_type},
                           {"macs", l.macs},
                           {"only", {{"cosine", report::json_number(s.only_cosine())}, {"snr_db", report::json_number(s.only_snr_db())}}},
                           {"except", {{"cosine", report::json_number(s.except_cosine())}, {"snr_db", report::json_number(s.except_snr_db())}}}});
  }
  return j;
}

}  // namespace ptq::pipeline
