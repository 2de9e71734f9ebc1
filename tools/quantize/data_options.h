// SPDX-License-Identifier: Apache-2.0
// The data-reading options shared by the subcommands that read samples (calibrate, quantize, run):
// --calib-samples, --batch-axis, --skip-bad-samples and the image preprocessing options.
#pragma once

#include <CLI/CLI.hpp>

#include "ptq/calib/data_reader.h"

namespace ptq::cli {

void add_data_options(CLI::App& cmd, calib::DataOptions& options);

}  // namespace ptq::cli
