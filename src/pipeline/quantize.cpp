// SPDX-License-Identifier: Apache-2.0
#include "ptq/pipeline/quantize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"

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

void check_output(const QuantizeJob& job) {
  if (job.output.empty()) PTQ_FAIL(UsageError, "no output model given (-o OUT.onnx)");
  std::error_code ec;
  if (fs::exists(job.output, ec) && fs::equivalent(job.output, job.model, ec))
    PTQ_FAIL(UsageError, "the output ", job.output, " is the input model; choose another file name");
  fs::path dir = fs::path(job.output).has_parent_path() ? fs::path(job.output).parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) PTQ_FAIL(IoError, "cannot write ", job.output, ": folder ", dir.string(), " does not exist");
}

// The weight observer of dynamic mode (which has no calibration method): --weight-range, else minmax.
std::string dynamic_weight_range(const QuantizeJob& job) {
  return job.calib.weight_range.empty() ? "minmax" : job.calib.weight_range;
}

// Default number of held-out samples for a calibration set of `total` samples.
size_t default_holdout(size_t total) { return total < 5 ? 0 : std::clamp<size_t>(total / 10, 1, 16); }

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

struct Prepared {
  onnx_io::LoadedModel loaded;
  onnx::ModelProto model;  // after the float passes
  size_t folded_batch_norms = 0;
  Graph graph;
  rewrite::QuantPlan plan;
};

// Load, fold BatchNormalization, build the graph, plan.
Prepared prepare(const QuantizeJob& job) {
  Prepared p;
  p.loaded = onnx_io::load_model(job.model);
  p.model = std::move(p.loaded.proto);
  if (job.fold_batch_norm) {
    rewrite::PassResult folded = rewrite::fold_batch_norm(p.model);
    p.folded_batch_norms = folded.changed;
    p.model = std::move(folded.model);
  }
  p.graph = build_graph(p.model, GraphOptions{true, p.loaded.external_tensors});
  p.plan = rewrite::plan_quantization(p.graph, job.quant);
  return p;
}

}  // namespace

calib::CalibTable run_calibrate(const QuantizeJob& job) {
  rewrite::validate_options(job.quant);
  if (job.calib_dir.empty()) PTQ_FAIL(UsageError, "calibration needs data (--calib DIR)");
  Prepared p = prepare(job);
  calib::DataOptions dopt = job.data;
  dopt.max_samples = job.calib_samples;
  auto data = calib::open_data(job.calib_dir, p.graph.inputs, dopt);
  calib::CalibTable table = calib::calibrate(p.graph, rewrite::calib_targets(p.plan), *data, job.calib);
  table.model = job.model;
  if (!job.save_table.empty()) calib::save_table(table, job.save_table);
  return table;
}

std::string precision_hint(const Graph& graph, const rewrite::QuantOptions& quant, const std::string& method,
                           const report::EvalResult& eval, HintAdvice* advice) {
  double worst = 1.0;
  for (const auto& o : eval.outputs) worst = std::min(worst, o.error.cosine());
  if (eval.outputs.empty() || !(worst < kHintCosine)) return "";
  std::map<std::string, double> cosine, own_snr;
  for (const auto& t : eval.tensors) {
    cosine[t.tensor] = t.error.cosine();
    if (t.has_local) own_snr[t.tensor] = t.local.snr_db();
  }
  // The worst cosine among the nearest compared tensors upstream of node i (1 when there are none).
  auto upstream = [&](size_t i) {
    double c = 1.0;
    std::vector<std::string> todo(graph.nodes[i].inputs.begin(), graph.nodes[i].inputs.end());
    std::set<std::string> seen;
    while (!todo.empty()) {
      std::string t = todo.back();
      todo.pop_back();
      if (t.empty() || !seen.insert(t).second) continue;
      if (auto it = cosine.find(t); it != cosine.end()) {
        c = std::min(c, it->second);
      } else if (int p = graph.producer(t); p >= 0) {
        todo.insert(todo.end(), graph.nodes[static_cast<size_t>(p)].inputs.begin(), graph.nodes[static_cast<size_t>(p)].inputs.end());
      }
    }
    return c;
  };
  const rewrite::LayerDepths depth = rewrite::layer_depths(graph);
  const int layers = depth.from_inputs.empty() ? 0 : *std::max_element(depth.from_inputs.begin(), depth.from_inputs.end());
  const int edge = std::max(1, layers / 4);
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    for (const auto& out : graph.nodes[i].outputs) {
      auto it = cosine.find(out);
      if (it == cosine.end() || !(it->second < kHintCosine)) continue;
      const int first = depth.from_inputs[i], last = depth.to_outputs[i] + 1;
      char text[512];
      if (auto own = own_snr.find(out); own != own_snr.end() && own->second < kHintOwnSnrDb) {
        // Its own rounding and clipping already lose most: the calibrated range, not the layer, is the problem.
        const std::string other = method == "percentile" ? "mse" : "percentile";
        const std::string advice_text = method.empty() ? "its range fits it badly: calibrate again with another --method"
                                                       : "the " + method + " range fits it badly): try --method " + other;
        std::snprintf(text, sizeof text, "output cosine %.4f; the error starts at tensor '%s' (cosine %.4f), whose own quantization loses most (own SNR %.1f dB%s%s",
                      worst, out.c_str(), it->second, own->second, method.empty() ? "): " : ": ", advice_text.c_str());
      } else if (quant.float_first <= 0 && first >= 1 && first <= edge) {
        std::snprintf(text, sizeof text, "output cosine %.4f; the error starts at tensor '%s' (cosine %.4f, compute layer %d of %d from the input): try --float-first %d",
                      worst, out.c_str(), it->second, first, layers, first);
        if (advice) advice->float_first = first;
      }
      // Near the output, error accumulated layer after layer crosses the threshold too: there, only a
      // jump counts (this tensor's 1 - cosine at least kHintJump times its inputs').
      else if (quant.float_last <= 0 && last <= edge && 1.0 - it->second >= kHintJump * (1.0 - upstream(i))) {
        std::snprintf(text, sizeof text, "output cosine %.4f; the error starts at tensor '%s' (cosine %.4f, %d compute layers before the output): try --float-last %d",
                      worst, out.c_str(), it->second, last - 1, last);
        if (advice) advice->float_last = last;
      } else {
        return "";
      }
      return text;
    }
  return "";
}

QuantizeResult run_quantize(const QuantizeJob& job) {
  auto start = Clock::now();
  check_output(job);
  rewrite::validate_options(job.quant);
  bool dynamic = job.quant.mode == rewrite::QuantMode::Dynamic;
  if (!job.labels.empty() && job.eval_dir.empty())
    PTQ_FAIL(UsageError, "--labels needs the labelled evaluation set (--eval-data DIR)");
  if (!dynamic && job.calib_dir.empty() && job.load_table.empty())
    PTQ_FAIL(UsageError, "static quantization needs calibration data (--calib DIR) or a table (--load-table FILE)");

  QuantizeResult r;
  r.model = job.model;
  r.output = job.output;
  r.quant = job.quant;
  Prepared prep = prepare(job);
  const onnx_io::LoadedModel& loaded = prep.loaded;
  const onnx::ModelProto& model = prep.model;
  const Graph& graph = prep.graph;
  const rewrite::QuantPlan& plan = prep.plan;
  r.folded_batch_norms = prep.folded_batch_norms;

  // Calibration data, with the held-out evaluation samples cut from its end.
  std::unique_ptr<calib::DataReader> calib_all, calib_part, eval_part;
  if (job.bias_correction && job.calib_dir.empty())
    PTQ_FAIL(UsageError, "--bias-correction needs calibration data (--calib DIR): it measures each layer's input means");
  if (!job.calib_dir.empty() && (!dynamic || job.bias_correction)) {
    calib::DataOptions dopt = job.data;
    dopt.max_samples = 0;
    calib_all = calib::open_data(job.calib_dir, graph.inputs, dopt);
    size_t total = calib_all->size();
    size_t n_calib = job.calib_samples ? std::min(job.calib_samples, total) : total;
    size_t holdout = 0;
    if (job.eval_dir.empty() && job.eval_samples != 0) {
      size_t wanted = job.eval_samples > 0 ? static_cast<size_t>(job.eval_samples) : default_holdout(total);
      holdout = job.calib_samples ? std::min(wanted, total - n_calib) : std::min(wanted, total > 1 ? total - 1 : 0);
      if (!job.calib_samples) n_calib = total - holdout;
    }
    calib_part = calib::subset(*calib_all, 0, n_calib);
    if (holdout > 0) eval_part = calib::subset(*calib_all, n_calib, n_calib + holdout);
    else if (job.eval_dir.empty() && job.eval_samples != 0) eval_part = calib::subset(*calib_all, 0, n_calib);
    r.eval_held_out = holdout > 0;
  }

  calib::CalibTable table;
  auto calib_start = Clock::now();
  if (!job.load_table.empty()) {
    table = calib::load_table(job.load_table);
    r.method = "table " + job.load_table;
  } else if (dynamic) {
    table = rewrite::weight_table(graph, plan, dynamic_weight_range(job));
    r.method = "weights (dynamic)";
    r.weight_range = dynamic_weight_range(job);
  } else {
    table = calib::calibrate(graph, rewrite::calib_targets(plan), *calib_part, job.calib);
    table.model = job.model;
    r.method = job.calib.method;
    r.weight_range = job.calib.weight_range;
    r.calib_samples = table.samples;
    r.calib_source = calib_part->describe();
  }
  r.calib_seconds = seconds_since(calib_start);

  if (!job.eval_dir.empty() && job.eval_samples != 0) {
    calib::DataOptions dopt = job.data;
    dopt.max_samples = job.eval_samples > 0 ? static_cast<size_t>(job.eval_samples) : 0;
    eval_part = calib::open_data(job.eval_dir, graph.inputs, dopt);
    r.eval_held_out = true;
  }

  // One quantized model for `quant` and its plan: bias correction (a corrected copy of the model,
  // planned again: a layer may have gained a bias), rewrite, evaluation against `graph` (FP32).
  struct Attempt {
    rewrite::QuantOptions quant;
    rewrite::QuantPlan plan;
    onnx::ModelProto quantized;
    size_t corrected_biases = 0;
    bool evaluated = false;
    report::EvalResult eval;
    std::string hint;
    HintAdvice advice;
  };
  std::map<std::string, std::vector<double>> means;  // bias correction's channel means, measured once per tensor
  auto attempt = [&](const rewrite::QuantOptions& quant, const rewrite::QuantPlan& plan_in, const calib::CalibTable& tab) {
    Attempt at;
    at.quant = quant;
    at.plan = plan_in;
    const onnx::ModelProto* source = &model;
    const Graph* source_graph = &graph;
    rewrite::PassResult corrected;
    Graph corrected_graph;
    if (job.bias_correction) {
      std::map<std::string, int> missing = rewrite::bias_correction_inputs(graph, plan_in, tab);
      for (auto it = missing.begin(); it != missing.end();) it = means.count(it->first) ? missing.erase(it) : std::next(it);
      if (!missing.empty()) means.merge(calib::channel_means(graph, missing, *calib_part, job.calib));
      corrected = rewrite::correct_biases(model, graph, plan_in, tab, means);
      at.corrected_biases = corrected.changed;
      if (corrected.changed) {
        corrected_graph = build_graph(corrected.model, GraphOptions{true, loaded.external_tensors});
        at.plan = rewrite::plan_quantization(corrected_graph, quant);
        source = &corrected.model;
        source_graph = &corrected_graph;
      }
    }
    at.quantized = rewrite::rewrite_model(*source, *source_graph, at.plan, tab);
    if (eval_part) {
      Graph qgraph = build_graph(at.quantized, GraphOptions{false, {}});
      report::EvalOptions eo;
      eo.threads = job.calib.threads;
      eo.progress = job.calib.progress;
      eo.tensors = tensor_compares(at.plan, tab, qgraph);
      if (!job.labels.empty()) eo.labels = report::read_labels(job.labels);
      at.eval = report::evaluate(graph, qgraph, *eval_part, eo);
      at.evaluated = true;
      // A method to suggest instead only when this run calibrated (not a loaded table, not dynamic).
      const bool calibrated = job.load_table.empty() && !dynamic;
      at.hint = precision_hint(graph, quant, calibrated ? job.calib.method : "", at.eval, &at.advice);
    }
    return at;
  };
  auto worst_cosine = [](const Attempt& at) {
    double w = 1.0;
    for (const auto& o : at.eval.outputs) w = std::min(w, o.error.cosine());
    return w;
  };

  Attempt chosen = attempt(job.quant, plan, table);
  if (job.auto_float && chosen.evaluated && (chosen.advice.float_first > 0 || chosen.advice.float_last > 0)) {
    // --auto-float: apply the hint once, keep whichever model has the better output cosine.
    rewrite::QuantOptions quant = job.quant;
    if (chosen.advice.float_first > 0) quant.float_first = chosen.advice.float_first;
    if (chosen.advice.float_last > 0) quant.float_last = chosen.advice.float_last;
    const std::string change = chosen.advice.float_first > 0 ? "--float-first " + std::to_string(quant.float_first)
                                                             : "--float-last " + std::to_string(quant.float_last);
    rewrite::QuantPlan plan2 = rewrite::plan_quantization(graph, quant);
    calib::CalibTable table2 = table;
    bool complete = true;
    for (const auto& t : rewrite::calib_targets(plan2)) complete &= table2.tensors.count(t.tensor) != 0;
    if (!complete && job.load_table.empty()) {  // the new plan quantizes tensors the first did not
      table2 = dynamic ? rewrite::weight_table(graph, plan2, dynamic_weight_range(job))
                       : calib::calibrate(graph, rewrite::calib_targets(plan2), *calib_part, job.calib);
      complete = true;
    }
    if (!complete) {
      r.auto_float = change + ": not tried (the loaded table lacks tensors the new plan quantizes)";
    } else {
      Attempt second = attempt(quant, plan2, table2);
      char text[256];
      std::snprintf(text, sizeof text, "%s: output cosine %.4f -> %.4f, %s", change.c_str(), worst_cosine(chosen), worst_cosine(second),
                    worst_cosine(second) > worst_cosine(chosen) ? "applied" : "not better, not applied");
      r.auto_float = text;
      if (worst_cosine(second) > worst_cosine(chosen)) {
        chosen = std::move(second);
        table = std::move(table2);
      }
    }
    log::info("auto-float: ", r.auto_float);
  }

  onnx_io::SaveOptions save;
  save.external_data = job.external_data;
  save.protected_paths = loaded.external_files;
  save.protected_paths.push_back(job.model);
  onnx_io::save_model(chosen.quantized, job.output, save);
  if (!job.save_table.empty()) calib::save_table(table, job.save_table);
  log::info("wrote ", job.output);

  r.quant = chosen.quant;
  r.corrected_biases = chosen.corrected_biases;
  r.quantized_nodes = chosen.plan.quantized_node_count();
  r.float_nodes = chosen.plan.float_node_count();
  for (size_t i = 0; i < chosen.plan.nodes.size(); ++i) {
    const auto& np = chosen.plan.nodes[i];
    if (np.removed) ++r.removed_nodes;
    else if (!np.quantized && r.float_node_reasons.size() < 8)
      r.float_node_reasons.push_back(graph.nodes[i].describe() + (np.reason.empty() ? "" : ": " + np.reason));
  }
  fs::path out_data = fs::path(job.output).parent_path() / (fs::path(job.output).filename().string() + ".data");
  r.fp32_bytes = bytes_on_disk(job.model, loaded.external_files);
  r.quantized_bytes = bytes_on_disk(job.output, fs::exists(out_data) && job.external_data != onnx_io::ExternalData::Never ? std::vector<fs::path>{out_data} : std::vector<fs::path>{});
  if (chosen.evaluated) {
    r.eval = std::move(chosen.eval);
    r.evaluated = true;
    r.eval_source = eval_part->describe();
    r.hint = chosen.hint;
  }
  r.total_seconds = seconds_since(start);
  return r;
}

}  // namespace ptq::pipeline
