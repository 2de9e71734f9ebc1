// SPDX-License-Identifier: Apache-2.0
// Options shared by the main quantize command and `quantize calibrate`: what to quantize and how
// (rewrite::QuantOptions) and how to calibrate (calib::CalibOptions). The allowed values come from the
// library's own tables (observer table, rule table), so help text and behaviour cannot drift apart.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "ptq/calib/calibrator.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::cli {

// Textual values, converted by to_quant_options() after parsing.
struct QuantFlags {
  std::string mode = "static";
  std::string target;           // --target; "" = ort-cpu's defaults and no check of the output
  std::string activation_type;  // "" = the target's default
  std::string weight_type;      // "" = the target's default
  std::string dynamic_format = "qdq";
  std::string int4_format = "qdq";
  std::string weight_method = "rtn";
  bool act_order = false;
  int64_t block_size = 0;
  bool per_tensor = false;
  bool symmetric_activations = false;
  bool reduce_range = false;
  bool keep_activations = false;
  bool float_bias = false;
  bool dedicated_pairs = false;
  bool no_fold_bn = false;
  bool bias_correction = false;
  float smooth_quant = -1.0f;  // --smooth-quant [alpha]: alpha; -1 when not given
  CLI::Option* smooth_quant_option = nullptr;  // given without a value: alpha 0.5
  bool equalize = false;
  bool split_channels = false;
  bool auto_float = false;
  bool asymmetric_weights = false;
  int64_t opset = 0;
  int float_first = 0, float_last = 0;
  int int8_first = -1, int8_last = -1;  // -1: the library's default
  std::string int8_embeddings;          // "on" / "off"; "": the library's default
  std::vector<std::string> exclude;
  std::vector<std::string> op_types;
  std::vector<std::string> export_tables;  // --export-table FORMAT:FILE (add_export_option)
};

void add_quant_options(CLI::App& cmd, QuantFlags& flags);
rewrite::QuantOptions to_quant_options(const QuantFlags& flags);
void add_calib_options(CLI::App& cmd, calib::CalibOptions& options);
// --export-table FORMAT:FILE (repeatable), the main command and `calibrate`; checked by finish_job.
void add_export_option(CLI::App& cmd, QuantFlags& flags);

// The job to run once the command line is parsed: `parsed` with the quantization flags applied and
// progress shown unless `quiet`.
// UsageError when a main-command-only flag of the shared group (--auto-float, --bias-correction) was given
// to `quantize <command>`.
void refuse_main_only_flags(const QuantFlags& flags, const std::string& command);
pipeline::QuantizeJob finish_job(const pipeline::QuantizeJob& parsed, const QuantFlags& flags, bool quiet);

}  // namespace ptq::cli
