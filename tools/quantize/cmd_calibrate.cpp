// SPDX-License-Identifier: Apache-2.0
// quantize calibrate MODEL --calib DIR --table FILE [options]: calibration only, the table as JSON.
// The tensors calibrated are the ones the main command would quantize with the same options, so
// `quantize MODEL --load-table FILE` can apply the table later.
#include <memory>

#include "commands.h"
#include "data_options.h"
#include "ptq/pipeline/quantize.h"
#include "quant_options.h"

namespace ptq::cli {

void register_calibrate_command(CLI::App& app, Action& action) {
  struct Options {
    pipeline::QuantizeJob job;
    QuantFlags flags;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("calibrate", "Calibrate a model on sample data and write the calibration table (JSON)");
  cmd->add_option("MODEL", o->job.model, "ONNX model")->required();
  cmd->add_option("--calib", o->job.calib_dir, "Calibration data: sample folders (.npy), .npz, test_data_set_N/*.pb or images")->required();
  cmd->add_option("--table", o->job.save_table, "Output calibration table (JSON)")->required();
  add_quant_options(*cmd, o->flags);
  add_export_option(*cmd, o->flags);
  add_calib_options(*cmd, o->job.calib);
  add_data_options(*cmd, o->job.data);
  cmd->callback([o, &app, &action] {
    action = [o, &app] {
      refuse_main_only_flags(o->flags, "calibrate");
      pipeline::QuantizeJob job = finish_job(o->job, o->flags, app.get_option("--quiet")->as<bool>());
      pipeline::run_calibrate(job);
      return 0;
    };
  });
}

}  // namespace ptq::cli
