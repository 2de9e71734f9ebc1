// SPDX-License-Identifier: Apache-2.0
// The main job, `quantize MODEL --calib DIR -o OUT`: load → (fold BatchNorm) → plan → (SmoothQuant, AWQ:
// scales folded into the float model) → calibrate (or load a table; dynamic mode needs none) → [precision
// search, with --target-cosine/--max-drop] → (AdaRound or GPTQ: rounded weights) → (bias correction) →
// rewrite → evaluate FP32 vs quantized on held-out samples → save atomically → report.
// One function so the CLI stays a thin layer; the stages live in src/pipeline/*.cpp.
//
// Held-out samples: with --eval-data the evaluation uses that set; otherwise the last
// `eval_samples` samples of the calibration folder are kept out of calibration (default: a tenth of
// the set, at least 1 and at most 16, when the set has 5 samples or more). A set too small to split is
// evaluated on its calibration samples, and the report says so.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "ptq/calib/calibrator.h"
#include "ptq/export/table_export.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/report/evaluator.h"
#include "ptq/rewrite/quantizer.h"
#include "ptq/search/precision_search.h"
#include "ptq/transform/adaround.h"
#include "ptq/transform/weight_method.h"

namespace ptq::pipeline {

struct QuantizeJob {
  std::string model;
  std::string output;
  std::string calib_dir;        // static mode without load_table: required
  std::string load_table;       // use this table instead of calibrating
  std::string save_table;       // write the calibration table here
  std::string report_path;      // write the JSON report here
  std::string eval_dir;         // evaluation set (default: held out from calib_dir)
  std::string labels;           // class labels of the evaluation set
  size_t calib_samples = 0;     // 0: all (minus the held-out ones)
  long eval_samples = -1;       // -1: default; 0: no evaluation
  bool fold_batch_norm = true;
  bool bias_correction = false;  // rewrite::correct_biases with means over the calibration samples
  // --adaround [N]: transform::adaround on the calibration samples, N iterations per layer (0: off); then
  // bias correction, if asked for, on the rounded weights. Without calib.weight_range, the weight ranges
  // are "mse" (run_quantize fills it in).
  int adaround = 0;
  // SmoothQuant's alpha in [0, 1] (rewrite::smooth_quant before calibration, max|X_j| over the calibration
  // samples); negative: off.
  float smooth_quant_alpha = -1.0f;
  // --equalize: rewrite::equalize_channels before calibration (per-channel max|x| over the calibration
  // samples): per-channel ranges for convolutional tensors whose channels one per-tensor grid cannot hold.
  bool equalize = false;
  // --split-channels: rewrite::split_channels before calibration (per-channel max|x| over the calibration
  // samples): a Conv feeding a depthwise Conv split into channel groups of similar range.
  bool split_channels = false;
  // --weight-method: "rtn" (round to nearest), "gptq" (transform::gptq on the calibration samples, then
  // the rewrite stores its integers) or "awq" (transform::awq's scales folded into the model, then
  // rounding to nearest); weight-only (dynamic) mode. act_order: GPTQ's column order by decreasing H_kk.
  std::string weight_method = "rtn";
  bool act_order = false;
  // Tolerance-driven precision (--target-cosine, --max-drop, --fallback): search::search_precision on the
  // evaluation samples; the written model's evaluation decides whether the tolerance is met.
  search::Tolerance tolerance;
  search::Fallback fallback = search::Fallback::Int16;
  size_t sensitivity_samples = 4;  // the search's ranking (quantize sensitivity: 8)
  rewrite::QuantOptions quant;
  // --target: the written model must pass rewrite::check_target for this row (else nothing is written
  // and an UnsupportedError names the first broken rule); "" = no check.
  std::string target;
  calib::CalibOptions calib;
  calib::DataOptions data;
  onnx_io::ExternalData external_data = onnx_io::ExternalData::Auto;
  // --export-table FORMAT:FILE: the final plan and table in a runtime's format (table_export.h), written
  // after the model (quantize calibrate: after the table).
  std::vector<table_export::ExportRequest> export_tables;
  // --html FILE: the visual report (html_report.h), written after the model.
  std::string html_path;
};

// What the precision search did (QuantizeJob::tolerance set).
struct PrecisionSummary {
  bool ran = false;
  search::Tolerance tolerance;
  search::Fallback fallback = search::Fallback::Int16;
  bool met = false;  // judged on the written model's evaluation
  struct Promoted {
    std::string label, op_type;
    int64_t macs = 0;
    double alone_cosine = 1.0;  // output cosine with only this layer quantized
  };
  std::vector<Promoted> promoted;
  search::MacShare macs;
  std::vector<search::SearchAttempt> attempts;
  double seconds = 0.0;
};

// What AdaRound did (QuantizeJob::adaround > 0).
struct AdaRoundSummary {
  bool ran = false;
  std::vector<transform::AdaRoundLayer> layers;
  std::vector<std::string> skipped;  // "label: reason"
  size_t samples = 0;
  int iterations = 0;
  double seconds = 0.0;
  double error_nearest = 0.0, error = 0.0;  // mean over the layers of the relative reconstruction errors
  size_t biases_corrected = 0;               // in AdaRound's pass (with --bias-correction)
  bool float_inputs = false;  // learned on the FP32 model's inputs (with a precision search), not the quantized one's
};

// What --weight-method gptq|awq did.
struct WeightMethodSummary {
  std::string method = "rtn";
  bool ran = false;
  std::vector<transform::WeightMethodLayer> layers;
  std::vector<std::string> skipped;  // "label: reason"
  size_t samples = 0;
  double seconds = 0.0;
  double error_rtn = 0.0, error = 0.0;  // mean over the layers of the relative output errors
  size_t scaled = 0, folded = 0;        // AWQ: activations scaled, of them folded into their producer
};

// The --weight-method names (rtn, gptq, awq), for the CLI's choices and messages.
const std::vector<std::string>& weight_methods();

struct QuantizeResult {
  std::string model, output;
  std::string method;           // calibration method, "table" when loaded, "weights" in dynamic mode
  std::string weight_range;     // --weight-range when given (dynamic mode: the one used); "" otherwise
  std::string target;           // --target the output was checked against; "" when none
  rewrite::QuantOptions quant;
  size_t calib_samples = 0;
  std::string calib_source;
  size_t folded_batch_norms = 0;
  size_t qat_weights = 0;       // a QAT export's weight Q/DQ pairs folded into integer initializers
  size_t corrected_biases = 0;  // layers whose bias bias correction changed
  size_t smoothed = 0, smoothed_folded = 0;  // SmoothQuant: activations smoothed, of them folded into the producer
  size_t equalized_outputs = 0, equalized_inputs = 0;  // channel equalization (rewrite::EqualizeResult)
  size_t split_convs = 0, split_groups = 0;            // channel splitting (rewrite::SplitResult)
  // Nodes: quantized (pattern_nodes of them as members of a pattern quantized at its boundary), float
  // compute nodes left float, shape arithmetic (never quantized; ir/data_flow.h), folded into a producer.
  size_t quantized_nodes = 0, float_nodes = 0, removed_nodes = 0, shape_nodes = 0, pattern_nodes = 0;
  std::vector<std::string> float_node_reasons;  // float compute nodes, "name (Op): reason", first few
  int64_t fp32_bytes = 0, quantized_bytes = 0;
  double calib_seconds = 0.0, total_seconds = 0.0;
  bool evaluated = false;
  bool eval_held_out = false;
  std::string eval_source;
  report::EvalResult eval;
  // precision_hint() after the evaluation ("" when it has nothing to say).
  std::string hint;
  PrecisionSummary precision;
  struct Export {
    std::string format, path;
    size_t entries = 0, skipped = 0;
  };
  std::vector<Export> exports;  // --export-table, in the order given
  AdaRoundSummary adaround;
  WeightMethodSummary weight_method;
};

// --adaround without a count: iterations per layer (the paper: 10k; this fits MobileNetV2 with 256 samples
// in a few minutes on 2 cores, see the README).
constexpr int kDefaultAdaRoundIterations = 2000;

constexpr double kHintCosine = 0.99;  // an output below this gets a hint, when one applies
constexpr double kHintJump = 4.0;      // near the output: (1 - cos) at least 4x its inputs'
constexpr double kHintOwnSnrDb = 22.0;  // below: the tensor's own range is the problem (8 bits give 30-40 dB)

// What to keep float when quantization hurts at one place near the input or the output: finds the
// first tensor (graph order) whose accumulated cosine is below kHintCosine; when it lies within the
// first quarter of the compute layers (layer_depths), or within the last quarter and its error jumped
// there (kHintJump), suggests the --float-first / --float-last value that keeps it and the layers
// before / after it float. Typical causes: a stem whose output channels have ranges orders of magnitude apart (YOLOX,
// PP-OCR det), a power spectrum before a Log (audio front ends). When that tensor's own rounding
// and clipping error is already large (own SNR < kHintOwnSnrDb), the range is at fault: suggests
// another --method instead (`method`: the calibration method used; "" when none was, e.g. a loaded table:
// then no method is suggested).
// "" when there is nothing to say.
std::string precision_hint(const Graph& graph, const rewrite::QuantOptions& quant, const std::string& method,
                           const report::EvalResult& eval);

// With 4-bit weights (quant.weight_type) an output below kHintCosine is mostly the weights' rounding:
// suggests what of the rounding options the run did not use. Per-channel weights: --adaround
// (`rounded`: AdaRound ran), --bias-correction (`corrected`) and --asymmetric-weights; weight-only blocks
// (quant.block_size), where AdaRound has no layer and bias correction no effect to count on:
// --weight-method gptq (`weight_method`: the one used) and --asymmetric-weights. "" otherwise.
std::string rounding_hint(const rewrite::QuantOptions& quant, bool rounded, bool corrected, const std::string& weight_method,
                          const report::EvalResult& eval);

// Why `eval` misses the tolerance, one line naming the data (`source`) and the output or accuracy at
// fault ("--target-cosine not met on DIR: output 'y' has cosine 0.951234 < 0.99"); "" when it meets
// it. The verdict is search::meets, as in the precision search; the main command and `quantize eval
// --target-cosine` both report a miss with it and exit 3.
std::string tolerance_miss(const search::Tolerance& tolerance, const report::EvalResult& eval, const std::string& source);

// `quantize eval --html FILE`: what the comparison's HTML report shows (eval_html.cpp). gate: the
// --target-cosine/--max-drop verdict ("met", or tolerance_miss's text), "" without one.
struct EvalHtmlInput {
  std::string reference_path, candidate_path, source;
  const Graph& reference;
  const Graph& candidate;
  const report::EvalResult& eval;
  std::string gate;
};
void write_eval_html(const std::string& path, const EvalHtmlInput& input);

QuantizeResult run_quantize(const QuantizeJob& job);

// `quantize calibrate`: the same plan, calibration only; writes job.save_table when set.
calib::CalibTable run_calibrate(const QuantizeJob& job);

std::string format_summary(const QuantizeResult& result);
nlohmann::json summary_json(const QuantizeResult& result);

}  // namespace ptq::pipeline
