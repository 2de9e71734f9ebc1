// SPDX-License-Identifier: Apache-2.0
// quantize sensitivity MODEL --calib DIR [--eval-data DIR] [--json] [options]: per-layer sensitivity
// (pipeline::run_sensitivity), worst first.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "data_options.h"
#include "ptq/pipeline/sensitivity.h"
#include "quant_options.h"

namespace ptq::cli {

void register_sensitivity_command(CLI::App& app, Action& action) {
  struct Options {
    pipeline::QuantizeJob job;
    QuantFlags flags;
    bool json = false;
    size_t rows = 40;
  };
  auto o = std::make_shared<Options>();
  o->job.sensitivity_samples = 8;
  CLI::App* cmd = app.add_subcommand("sensitivity", "Per-layer sensitivity: output error with only that layer quantized / left float");
  cmd->add_option("MODEL", o->job.model, "FP32 ONNX model")->required();
  cmd->add_option("--calib", o->job.calib_dir, "Calibration data: sample folders (.npy), .npz, test_data_set_N/*.pb or images");
  cmd->add_option("--load-table", o->job.load_table, "Use this calibration table instead of calibrating");
  cmd->add_option("--eval-data", o->job.eval_dir, "Evaluation data (default: a few calibration samples held out)");
  cmd->add_option("--samples", o->job.sensitivity_samples, "Evaluation samples to use (default 8)")->check(CLI::PositiveNumber);
  cmd->add_option("--rows", o->rows, "Layers listed on stderr (default 40; --json lists all)");
  cmd->add_flag("--json", o->json, "Print the result as JSON on stdout");
  add_quant_options(*cmd, o->flags);
  add_calib_options(*cmd, o->job.calib);
  add_data_options(*cmd, o->job.data);
  cmd->callback([o, &app, &action] {
    action = [o, &app] {
      refuse_main_only_flags(o->flags, "sensitivity");
      const bool quiet = app.get_option("--quiet")->as<bool>();
      pipeline::QuantizeJob job = finish_job(o->job, o->flags, quiet);
      pipeline::SensitivityReport r = pipeline::run_sensitivity(job);
      if (o->json) std::printf("%s\n", pipeline::sensitivity_json(r).dump(2).c_str());
      if (!quiet) std::fprintf(stderr, "%s", pipeline::format_sensitivity(r, o->rows).c_str());
      return 0;
    };
  });
}

}  // namespace ptq::cli
