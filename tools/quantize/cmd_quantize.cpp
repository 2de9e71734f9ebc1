// SPDX-License-Identifier: Apache-2.0
// The main command: quantize MODEL --calib DIR -o OUT [options] (pipeline::run_quantize). Exit code 3:
// a --target-cosine / --max-drop tolerance was not met (the best model found is still written).
#include <algorithm>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "data_options.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/rewrite/target.h"
#include "quant_options.h"

namespace ptq::cli {

void register_quantize_command(CLI::App& app, Action& action) {
  struct Options {
    pipeline::QuantizeJob job;
    QuantFlags flags;
    bool json = false, external_data = false;
    std::string fallback = "int16";
  };
  auto o = std::make_shared<Options>();
  app.add_option("MODEL", o->job.model, "FP32 ONNX model to quantize");
  app.add_option("-o,--output", o->job.output, "Quantized model to write");
  app.add_option("--calib", o->job.calib_dir, "Calibration data: sample folders (.npy), .npz, test_data_set_N/*.pb or images");
  app.add_option("--table", o->job.save_table, "Also write the calibration table (JSON)");
  app.add_option("--load-table", o->job.load_table, "Use this calibration table instead of calibrating");
  app.add_option("--report", o->job.report_path, "Write the report (JSON)");
  app.add_flag("--json", o->json, "Print the report as JSON on stdout");
  app.add_option("--html", o->job.html_path,
                 "Also write a self-contained HTML report: per-tensor error in graph order, activation histograms with "
                 "their clip ranges, precision per layer, size/time/accuracy");
  app.add_option("--eval-data", o->job.eval_dir, "Evaluation data (default: a few calibration samples held out)");
  app.add_option("--labels", o->job.labels, "Class labels of --eval-data (.npy or text) for accuracy");
  app.add_option("--eval-samples", o->job.eval_samples, "Evaluation samples (0: no evaluation)");
  app.add_flag("--external-data", o->external_data, "Store weights in <output>.data (automatic above 2 GB, or when the input model has external data)");
  const char* precision = "Precision (tolerance-driven mixed precision)";
  app.add_option("--target-cosine", o->job.tolerance.target_cosine,
                 "Promote the fewest layers out of 8 bits so that every output's cosine with FP32 on the evaluation samples "
                 "is at least C; exit code 3 (best model still written) when no plan reaches it")
      ->check(CLI::Range(0.0, 1.0))->group(precision);
  app.add_option("--max-drop", o->job.tolerance.max_drop,
                 "The same for top-1 accuracy: at most P points below FP32 (needs --eval-data and --labels)")
      ->check(CLI::Range(0.0, 100.0))->group(precision);
  app.add_option("--fallback", o->fallback, "What a promoted layer becomes: int16 (16-bit activations and weights, default) or float")
      ->check(CLI::IsMember({"int16", "float"}))->group(precision);
  app.add_option("--sensitivity-samples", o->job.sensitivity_samples, "Evaluation samples the per-layer ranking uses (default 4)")
      ->check(CLI::PositiveNumber)->group(precision);
  app.add_option("--adaround", o->job.adaround,
                 "AdaRound: learn each Conv/Gemm/MatMul weight's rounding (up or down) by layer-wise reconstruction on the "
                 "--calib samples; N iterations per layer (default " + std::to_string(pipeline::kDefaultAdaRoundIterations) +
                     "); weight ranges default to --weight-range mse. Give N, or put the flag after MODEL")
      ->expected(0, 1)
      ->default_str(std::to_string(pipeline::kDefaultAdaRoundIterations))
      ->group("Quantization");
  add_quant_options(app, o->flags);
  add_export_option(app, o->flags);
  add_calib_options(app, o->job.calib);
  add_data_options(app, o->job.data);
  o->job.calib_samples = 0;
  app.callback([o, &app, &action] {
    if (!app.get_subcommands().empty()) return;
    if (o->job.model.empty()) throw CLI::CallForHelp();
    action = [o, &app] {
      if (app.get_option("--adaround")->count() > 0 && o->job.adaround <= 0)
        throw UsageError("--adaround takes a positive number of iterations, got " + std::to_string(o->job.adaround));
      pipeline::QuantizeJob job = finish_job(o->job, o->flags, app.get_option("--quiet")->as<bool>());
      if (o->external_data) job.external_data = onnx_io::ExternalData::Always;
      job.fallback = search::fallback_from_name(o->fallback);
      if (!job.target.empty()) {  // a target without 16-bit activations: promoted layers become float
        const auto& types = rewrite::find_target(job.target).activation_types;
        if (std::none_of(types.begin(), types.end(), [](QType t) { return qtype_bits(t) == 16; })) {
          if (app.get_option("--fallback")->count() > 0 && job.fallback == search::Fallback::Int16)
            throw UsageError("--fallback int16 contradicts --target " + job.target + ": it takes no 16-bit activations");
          job.fallback = search::Fallback::Float;
        }
        // A named runtime without 16-bit kernels (ONNX Runtime's CPU provider, OpenVINO's CPU plugin) runs a
        // 16-bit layer in float between its Q/DQ, slower than a float layer with the same accuracy: promoted
        // layers become float unless --fallback says otherwise.
        if (!rewrite::find_target(job.target).int16_kernels && app.get_option("--fallback")->count() == 0)
          job.fallback = search::Fallback::Float;
        // ONNX-domain targets: 16-bit Q/DQ of promoted layers exist from opset 21 only.
        if (rewrite::find_target(job.target).onnx_domain && job.tolerance.active() && job.fallback == search::Fallback::Int16)
          job.quant.opset = 21;
      }
      if (o->flags.auto_float) {  // the old flag: a tolerance search with float fallback
        if (job.tolerance.target_cosine <= 0.0) job.tolerance.target_cosine = pipeline::kHintCosine;
        job.fallback = search::Fallback::Float;
      }
      pipeline::QuantizeResult r = pipeline::run_quantize(job);
      nlohmann::json j = pipeline::summary_json(r);
      if (!job.report_path.empty()) onnx_io::write_file_atomic(job.report_path, j.dump(2) + "\n");
      if (o->json) std::printf("%s\n", j.dump(2).c_str());
      if (!app.get_option("--quiet")->as<bool>()) std::fprintf(stderr, "%s", pipeline::format_summary(r).c_str());
      if (r.precision.ran && !r.precision.met) {
        std::string miss = r.evaluated ? pipeline::tolerance_miss(r.precision.tolerance, r.eval, r.eval_source) : "";
        if (miss.empty()) miss = "the tolerance was not met (the written model was not evaluated)";
        std::fprintf(stderr, "error: %s; the best model found was written to %s (exit code 3)\n", miss.c_str(), r.output.c_str());
        return 3;
      }
      return 0;
    };
  });
}

}  // namespace ptq::cli
