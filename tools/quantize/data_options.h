// SPDX-License-Identifier: Apache-2.0
// The data-reading options shared by the subcommands that read samples (calibrate, quantize, run, eval):
// the sample count, --batch-axis, --skip-bad-samples and the image preprocessing options.
#pragma once

#include <CLI/CLI.hpp>

#include "ptq/calib/data_reader.h"

namespace ptq::cli {

// `count_option`: the name of the sample-count option ("--calib-samples", "--samples"), or nullptr.
void add_data_options(CLI::App& cmd, calib::DataOptions& options, const char* count_option = "--calib-samples");

}  // namespace ptq::cli
