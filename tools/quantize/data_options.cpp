// SPDX-License-Identifier: Apache-2.0
#include "data_options.h"

namespace ptq::cli {

void add_data_options(CLI::App& cmd, calib::DataOptions& o, const char* count_option) {
  if (count_option) cmd.add_option(count_option, o.max_samples, "Use only the first N samples (name order); 0 = all");
  cmd.add_option("--batch-axis", o.batch_axis, "The .npy files hold many samples stacked along this axis");
  cmd.add_flag("--skip-bad-samples", o.skip_bad_samples, "Skip samples with NaN/Inf (with a warning) instead of failing");
  const char* group = "Image preprocessing";
  cmd.add_option("--preset", o.image.preset, "Image preset: " + calib::image_preset_help() + "; or a preset file")->group(group);
  cmd.add_option("--size", o.image.size, "Image size H,W (or one value); default: the model input's")->delimiter(',')->group(group);
  cmd.add_option("--resize", o.image.resize, "Resize the shorter side to this, then centre-crop --size")->group(group);
  cmd.add_option("--mean", o.image.mean, "Mean per channel (or one value), subtracted after --scale")->delimiter(',')->group(group);
  cmd.add_option("--std", o.image.std, "Std per channel (or one value), divided after the mean")->delimiter(',')->group(group);
  cmd.add_option("--scale", o.image.scale, "Pixel (0..255) multiplier, e.g. 0.00392157 for x/255")->group(group);
  cmd.add_option("--layout", o.image.layout, "Tensor layout")->check(CLI::IsMember({"nchw", "nhwc"}))->group(group);
  cmd.add_option("--color", o.image.color, "Channel order")->check(CLI::IsMember({"rgb", "bgr", "gray"}))->group(group);
}

}  // namespace ptq::cli
