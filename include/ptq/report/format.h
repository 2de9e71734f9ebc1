// SPDX-License-Identifier: Apache-2.0
// Human-readable (stderr) and JSON renderings of evaluation results.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ptq/report/evaluator.h"

namespace ptq::report {

// The version of every --json document (the main command and --report, eval, sensitivity, inspect):
// their top-level "schema" field. docs/report-schema.md lists each field; a change that renames,
// removes or retypes a field raises it (added fields do not).
constexpr int kJsonSchema = 1;

// Output-level table (cosine, SNR, max |diff|, top-1 agreement, accuracy) and, when present, the
// `max_tensors` worst intermediate tensors.
std::string format_eval(const EvalResult& result, size_t max_tensors = 10);
nlohmann::json eval_json(const EvalResult& result);
// A double for JSON: ±inf/NaN become strings ("inf", "-inf", "nan") so the document stays valid.
nlohmann::json json_number(double v);

}  // namespace ptq::report
