// SPDX-License-Identifier: Apache-2.0
// run_quantize and run_calibrate: the stages of stages.h in order.
#include "ptq/pipeline/quantize.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "ptq/ir/data_file_writer.h"
#include "ptq/ir/value_info_repair.h"
#include "ptq/rewrite/passes.h"
#include "ptq/rewrite/target.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace fs = std::filesystem;

namespace ptq::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t bytes_on_disk(const fs::path& model, const std::vector<fs::path>& extra) {
  std::error_code ec;
  int64_t total = static_cast<int64_t>(fs::file_size(model, ec));
  if (ec) total = 0;
  for (const auto& f : extra) {
    auto s = fs::file_size(f, ec);
    if (!ec) total += static_cast<int64_t>(s);
  }
  return total;
}

// The model about to be written against its --target's rules: the first violation, before any byte is written.
void check_written_target(const onnx::ModelProto& model, const QuantizeJob& job) {
  std::vector<rewrite::Violation> v = rewrite::check_target(model, rewrite::find_target(job.target));
  if (v.empty()) return;
  PTQ_FAIL(UnsupportedError, "the quantized model breaks ", v.size(), " rule(s) of --target ", job.target, ", e.g. node '", v[0].node,
           "': ", v[0].rule, " (", v[0].what, "); nothing was written to ", job.output, " (quantize check lists them all)");
}

void check_output(const QuantizeJob& job) {
  if (job.output.empty()) PTQ_FAIL(UsageError, "no output model given (-o OUT.onnx)");
  std::error_code ec;
  if (fs::exists(job.output, ec) && fs::equivalent(job.output, job.model, ec))
    PTQ_FAIL(UsageError, "the output ", job.output, " is the input model; choose another file name");
  fs::path dir = fs::path(job.output).has_parent_path() ? fs::path(job.output).parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) PTQ_FAIL(IoError, "cannot write ", job.output, ": folder ", dir.string(), " does not exist");
}

// fold_batch_norm folds the BatchNormalization nodes of the model's graph (not of bodies).
bool folds_batch_norm(const QuantizeJob& job, const onnx::ModelProto& model) {
  if (!job.fold_batch_norm) return false;
  for (const auto& node : model.graph().node())
    if (node.op_type() == "BatchNormalization") return true;
  return false;
}

// True when a stage of the job edits initializers in the proto (those stages need their data there,
// not in a mapping of the external data).
bool edits_initializers(const QuantizeJob& job, const onnx::ModelProto& model) {
  return job.smooth_quant_alpha >= 0.0f || job.weight_method != "rtn" || job.adaround > 0 || job.bias_correction ||
         folds_batch_norm(job, model) || rewrite::has_qdq(model) ||
         std::any_of(model.graph().initializer().begin(), model.graph().initializer().end(),
                     [](const onnx::TensorProto& t) { return t.data_type() == onnx::TensorProto::FLOAT16; });
}

// How the output is saved: a model that came with external data keeps its weights in external data;
// never over the input model or its data files.
onnx_io::SaveOptions save_options(const QuantizeJob& job, const Prepared& prep) {
  onnx_io::SaveOptions save;
  save.external_data = job.external_data;
  if (save.external_data == onnx_io::ExternalData::Auto && !prep.loaded.external_tensors.empty())
    save.external_data = onnx_io::ExternalData::Always;
  save.protected_paths = prep.loaded.external_files;
  save.protected_paths.push_back(job.model);
  save.mapped = &prep.loaded.mapped;
  return save;
}

}  // namespace

std::string dynamic_weight_range(const QuantizeJob& job) {
  return job.calib.weight_range.empty() ? "minmax" : job.calib.weight_range;
}

Prepared prepare(const QuantizeJob& job) {
  Prepared p;
  onnx_io::LoadOptions load;
  load.map_external = true;
  p.loaded = onnx_io::load_model(job.model, load);
  p.model = std::move(p.loaded.proto);
  rewrite::check_opset_upgrade(p.model, job.model);
  if (edits_initializers(job, p.model)) onnx_io::inline_mapped(p.loaded, p.model);
  rewrite::Float16Result widened = rewrite::float16_to_float32(p.model);
  if (widened.changed) {
    p.model = std::move(widened.model);
    p.float16_inputs = std::move(widened.inputs);
    p.float16_outputs = std::move(widened.outputs);
    log::info("fp16 model: calibrated and quantized in float32; the output keeps its float16 inputs and outputs");
  }
  if (rewrite::has_qdq(p.model)) {
    rewrite::PassResult folded = rewrite::fold_qat_weights(p.model);
    p.qat_weights = folded.changed;
    p.model = std::move(folded.model);
  }
  if (folds_batch_norm(job, p.model)) {
    rewrite::PassResult folded = rewrite::fold_batch_norm(p.model);
    p.folded_batch_norms = folded.changed;
    p.model = std::move(folded.model);
  }
  p.value_info = repair_value_info(p.model);
  for (const auto& note : p.value_info.notes) log::warn(job.model, ": ", note);
  GraphOptions graph_options{true, p.loaded.external_tensors};
  graph_options.mapped = &p.loaded.mapped;
  p.graph = build_graph(p.model, graph_options);
  check_training_mode(job, p.graph);
  p.plan = rewrite::plan_quantization(p.graph, job.quant);
  return p;
}

void replace_model(Prepared& prep, onnx::ModelProto model, const QuantizeJob& job) {
  prep.model = std::move(model);
  prep.graph = build_graph(prep.model, GraphOptions{true, prep.loaded.external_tensors});
  prep.plan = rewrite::plan_quantization(prep.graph, job.quant);
}

calib::CalibTable run_calibrate(const QuantizeJob& job) {
  rewrite::validate_options(job.quant);
  if (job.smooth_quant_alpha >= 0.0f)
    PTQ_FAIL(UsageError, "--smooth-quant applies to the main command only: a table of `quantize calibrate` is of the unsmoothed model");
  if (job.equalize)
    PTQ_FAIL(UsageError, "--equalize applies to the main command only: a table of `quantize calibrate` is of the model before equalization");
  if (job.split_channels)
    PTQ_FAIL(UsageError, "--split-channels applies to the main command only: a table of `quantize calibrate` is of the model before splitting");
  if (job.weight_method != "rtn")
    PTQ_FAIL(UsageError, "--weight-method applies to the main command only: `quantize calibrate` writes a table, not weights");
  if (job.calib_dir.empty()) PTQ_FAIL(UsageError, "calibration needs data (--calib DIR)");
  table_export::check_export_paths(job.export_tables);
  Prepared p = prepare(job);
  calib::DataOptions dopt = job.data;
  dopt.max_samples = job.calib_samples;
  DataSplit split;
  split.calib = calib::open_data(job.calib_dir, p.graph.inputs, dopt);
  shape_stage(job, p, split, false);
  const auto& data = split.calib;
  calib::CalibTable table = calib::calibrate(p.graph, rewrite::calib_targets(p.plan), *data, job.calib);
  table.model = job.model;
  if (!job.save_table.empty()) calib::save_table(table, job.save_table);
  for (const auto& request : job.export_tables) table_export::export_table(request, {p.graph, p.plan, table});
  return table;
}

// The job with the defaults that depend on other options filled in: AdaRound learns the rounding on the
// grid that minimizes each channel's squared weight error (--weight-range mse), as Nagel et al. do,
// unless --weight-range says otherwise.
QuantizeJob with_dependent_defaults(const QuantizeJob& in) {
  QuantizeJob job = in;
  if (job.adaround > 0 && job.calib.weight_range.empty()) job.calib.weight_range = "mse";
  return job;
}

QuantizeResult run_quantize(const QuantizeJob& given) {
  QuantizeJob job = with_dependent_defaults(given);
  auto start = Clock::now();
  check_output(job);
  table_export::check_export_paths(job.export_tables);
  if (!job.html_path.empty()) onnx_io::check_destination(job.html_path);
  rewrite::validate_options(job.quant);
  const bool dynamic = job.quant.mode == rewrite::QuantMode::Dynamic;
  if (!job.labels.empty() && job.eval_dir.empty())
    PTQ_FAIL(UsageError, "--labels needs the labelled evaluation set (--eval-data DIR)");
  if (job.bias_correction && job.calib_dir.empty())
    PTQ_FAIL(UsageError, "--bias-correction needs calibration data (--calib DIR): it measures each layer's input means");
  if (job.adaround < 0) PTQ_FAIL(UsageError, "--adaround takes a positive number of iterations, got ", job.adaround);
  if (job.adaround > 0 && job.calib_dir.empty())
    PTQ_FAIL(UsageError, "--adaround needs calibration data (--calib DIR): it reconstructs each layer's output on the samples",
             dynamic ? " (also in dynamic mode)" : " (a --load-table has no samples)");
  if (job.adaround > 0 && dynamic && job.quant.dynamic_format == rewrite::DynamicFormat::Integer)
    PTQ_FAIL(UsageError, "--adaround cannot be combined with --dynamic-format integer (activations quantized per run by "
             "DynamicQuantizeLinear); use the default qdq format");
  check_weight_method(job);
  if (job.tolerance.max_drop >= 0.0 && job.labels.empty())
    PTQ_FAIL(UsageError, "--max-drop needs a labelled evaluation set (--eval-data DIR --labels FILE)");

  QuantizeResult r;
  r.model = job.model;
  r.output = job.output;
  r.quant = job.quant;
  r.target = job.target;
  Prepared prep = prepare(job);
  if (!dynamic && job.calib_dir.empty() && job.load_table.empty()) {
    if (!rewrite::has_qdq(prep.model))
      PTQ_FAIL(UsageError, "static quantization needs calibration data (--calib DIR) or a table (--load-table FILE)");
    // A QAT export without calibration data: its own Q/DQ (weights folded) are the result.
    job.quant.qat_import_only = true;
    prep.plan = rewrite::plan_quantization(prep.graph, job.quant);
  }
  if (prep.qat_weights == 0 && prep.plan.quantized_node_count() == 0 && rewrite::has_qdq(prep.model))
    PTQ_FAIL(UnsupportedError, job.model, ": the model is already quantized (Q/DQ with integer weights, no float layer left); ",
             "ptq quantizes float models and QAT exports (Q/DQ on float weights)");
  r.folded_batch_norms = prep.folded_batch_norms;
  r.qat_weights = prep.qat_weights;
  const DataSplit data = split_data(job, prep.graph);
  shape_stage(job, prep, data, true);
  if (job.smooth_quant_alpha >= 0.0f) smooth_stage(job, prep, data, r);
  if (job.split_channels) split_stage(job, prep, data, r);
  if (job.equalize) equalize_stage(job, prep, data, r);
  r.weight_method.method = job.weight_method;
  if (job.weight_method == "awq") awq_stage(job, prep, data, r);

  // Calibration (or a loaded table, or the weights alone in dynamic mode).
  calib::CalibTable table;
  auto calib_start = Clock::now();
  if (!job.load_table.empty()) {
    table = calib::load_table(job.load_table);
    r.method = "table " + job.load_table;
  } else if (job.quant.qat_import_only) {
    r.method = "the QAT model's own Q/DQ (no --calib)";
  } else if (dynamic) {
    table = rewrite::weight_table(prep.graph, prep.plan, dynamic_weight_range(job), job.calib.threads);
    r.method = "weights (dynamic)";
    r.weight_range = dynamic_weight_range(job);
  } else {
    table = calib::calibrate(prep.graph, rewrite::calib_targets(prep.plan), *data.calib, job.calib);
    table.model = job.model;
    r.method = job.calib.method;
    r.weight_range = job.calib.weight_range;
    r.calib_samples = table.samples;
    r.calib_source = data.calib->describe();
  }
  r.calib_seconds = seconds_since(calib_start);

  // Precision search: which layers leave 8 bits so that the tolerance holds.
  AttemptBuilder builder(job, prep, data);
  rewrite::QuantOptions quant = job.quant;
  rewrite::QuantPlan plan = prep.plan;
  if (job.tolerance.active()) {
    quant = search_stage(job, prep, data, table, builder, r.precision);
    plan = rewrite::plan_quantization(prep.graph, quant);
    table = rewrite::retype_table(table, plan);
  }

  // With external data the written weights go to the output's data file as they are made (one in memory
  // at a time); the file is removed unless save_model commits it.
  onnx_io::SaveOptions save = save_options(job, prep);
  std::unique_ptr<onnx_io::DataFileWriter> data_file;
  if (save.external_data == onnx_io::ExternalData::Always)
    data_file = std::make_unique<onnx_io::DataFileWriter>(job.output, save.external_threshold_bytes, save.protected_paths);
  save.data_file = data_file.get();
  Attempt chosen = builder.build(quant, plan, table, data_file.get());
  if (!chosen.rescaled.empty()) table = transform::rescaled_table(table, chosen.rescaled);  // saved, exported
  if (r.precision.ran) r.precision.met = chosen.evaluated && tolerance_met(job, chosen.eval);

  if (!prep.float16_inputs.empty() || !prep.float16_outputs.empty())
    rewrite::restore_float16_io(chosen.quantized, prep.float16_inputs, prep.float16_outputs);
  if (!job.target.empty()) check_written_target(chosen.quantized, job);  // what is written, fp16 I/O included
  onnx_io::save_model(std::move(chosen.quantized), job.output, save);
  if (!job.save_table.empty()) calib::save_table(table, job.save_table);
  log::info("wrote ", job.output);
  for (const auto& request : job.export_tables) {
    table_export::ExportedTable t = table_export::export_table(request, {prep.graph, chosen.plan, table});
    r.exports.push_back({request.format, request.path, t.entries, t.skipped.size()});
  }

  r.quant = chosen.quant;
  r.corrected_biases = chosen.corrected_biases;
  r.adaround = chosen.adaround;
  if (chosen.weight_method.ran) r.weight_method = chosen.weight_method;
  r.quantized_nodes = chosen.plan.quantized_node_count();
  r.float_nodes = chosen.plan.float_node_count();
  r.shape_nodes = chosen.plan.shape_node_count();
  r.pattern_nodes = chosen.plan.pattern_node_count();
  for (size_t i = 0; i < chosen.plan.nodes.size(); ++i) {
    const auto& np = chosen.plan.nodes[i];
    if (np.removed) ++r.removed_nodes;
    else if (!np.quantized && np.compute && r.float_node_reasons.size() < 8)
      r.float_node_reasons.push_back(prep.graph.nodes[i].describe() + (np.reason.empty() ? "" : ": " + np.reason));
  }
  fs::path out_data = fs::path(job.output).parent_path() / (fs::path(job.output).filename().string() + ".data");
  r.fp32_bytes = bytes_on_disk(job.model, prep.loaded.external_files);
  r.quantized_bytes = bytes_on_disk(job.output, fs::exists(out_data) && job.external_data != onnx_io::ExternalData::Never ? std::vector<fs::path>{out_data} : std::vector<fs::path>{});
  if (chosen.evaluated) {
    r.eval = std::move(chosen.eval);
    r.evaluated = true;
    r.eval_held_out = data.held_out;
    r.eval_source = data.eval->describe();
    r.hint = chosen.hint;
  }
  r.total_seconds = seconds_since(start);
  if (!job.html_path.empty()) {
    html_stage(job, prep, chosen.plan, table, data, r);
    log::info("wrote ", job.html_path);
  }
  return r;
}

}  // namespace ptq::pipeline
