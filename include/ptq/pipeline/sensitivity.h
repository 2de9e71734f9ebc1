// SPDX-License-Identifier: Apache-2.0
// `quantize sensitivity MODEL --calib DIR [--eval-data DIR]`: the main command's plan and calibration,
// then search::analyze_sensitivity on the evaluation samples (held out from --calib, or --eval-data):
// per layer, the output error with only that layer quantized and with every layer but that one,
// with MACs, worst first. With --equalize, of the equalized model (its restoring Muls are layers too).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ptq/pipeline/quantize.h"
#include "ptq/search/sensitivity.h"

namespace ptq::pipeline {

struct SensitivityReport {
  std::string model, method, eval_source;
  size_t calib_samples = 0;
  size_t equalized_outputs = 0, equalized_inputs = 0;  // --equalize (rewrite::EqualizeResult)
  size_t split_convs = 0, split_groups = 0;            // --split-channels (rewrite::SplitResult)
  std::vector<search::Layer> layers;
  search::SensitivityResult result;
};

// Uses job.sensitivity_samples evaluation samples.
SensitivityReport run_sensitivity(const QuantizeJob& job);

std::string format_sensitivity(const SensitivityReport& report, size_t max_rows = 40);
nlohmann::json sensitivity_json(const SensitivityReport& report);

}  // namespace ptq::pipeline
