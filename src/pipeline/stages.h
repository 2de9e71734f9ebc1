// SPDX-License-Identifier: Apache-2.0
// The stages of run_quantize (quantize.cpp), one file each: prepare (load, fold BatchNorm, plan), the
// data split (calibration samples and held-out evaluation samples), the precision search, and the
// build of one quantized model (bias correction, rewrite, evaluation). Not public API.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ptq/ir/data_file_writer.h"
#include "ptq/ir/value_info_repair.h"
#include "ptq/pipeline/quantize.h"

namespace ptq::pipeline {

// quantize.cpp: load, fold BatchNormalization, build the graph, plan.
struct Prepared {
  onnx_io::LoadedModel loaded;
  onnx::ModelProto model;  // after the float passes
  size_t folded_batch_norms = 0;
  size_t qat_weights = 0;
  std::vector<std::string> float16_inputs, float16_outputs;  // of an fp16 model, widened to float32 inside  // QAT weight Q/DQ pairs folded into integer initializers
  Graph graph;
  rewrite::QuantPlan plan;
  ValueInfoRepair value_info;  // what shape inference could not give or check is left to shape_stage
};
// Also repairs the model's value_info with shape inference (ir/value_info_repair.h; a warning per
// contradicting entry replaced).
Prepared prepare(const QuantizeJob& job);
// After a float pass rewrote the model (SmoothQuant, AWQ, channel equalization): prep's model becomes
// `model`, and its graph and plan are built again (plan with job.quant).
void replace_model(Prepared& prep, onnx::ModelProto model, const QuantizeJob& job);
// training_mode.cpp: Dropout in training mode with a ratio not 0 is refused (UnsupportedError naming the
// node); BatchNormalization in training mode is kept, with a warning.
void check_training_mode(const QuantizeJob& job, const Graph& graph);
// The weight observer of dynamic mode (which has no calibration method): --weight-range, else minmax.
std::string dynamic_weight_range(const QuantizeJob& job);

// smooth_stage.cpp: SmoothQuant (job.smooth_quant_alpha >= 0) on the prepared model, measured on the
// calibration samples; replaces prep's model, graph and plan; fills result.smoothed*.
struct DataSplit;
void smooth_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result);
// Also smooth_stage.cpp: max|x| per channel of `tensors` over the calibration samples, for a float pass
// that rescales channels before calibration (SmoothQuant, channel equalization); a UsageError naming
// the option outside static mode, without --calib or with --load-table.
struct ChannelPass {
  const char* option;   // "--smooth-quant"
  const char* purpose;  // why static mode: "it moves activation outliers into the weights"
  const char* noun;     // "smoothing": the table's ranges are of the model before it
};
std::map<std::string, std::vector<double>> measure_channel_absmax(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                                                  const std::map<std::string, int>& tensors, const ChannelPass& pass);

// equalize_stage.cpp: channel equalization (job.equalize) on the prepared model, measured on the
// calibration samples; replaces prep's model, graph and plan and sets job.quant.kept_float; fills
// result.equalized_*. kEqualizeMinGain: the noise gain (rewrite::equalize_channels) from which a tensor
// is equalized — 30 dB, a per-tensor grid 1000x noisier than per-channel ones. On YOLOX-nano it selects
// the stem's Conv output (gain 5884) and SiLU output (12996) and none of the next (196 and below).
constexpr double kEqualizeMinGain = 1000.0;
void equalize_stage(QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result);
// split_stage.cpp: channel splitting (job.split_channels) on the prepared model, measured on the
// calibration samples; replaces prep's model, graph and plan; fills result.split_*. Splits the Conv
// outputs whose noise gain is at least kEqualizeMinGain.
void split_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result);

// data_split.cpp: the calibration samples and the evaluation samples (held out from the end of the
// calibration set, or --eval-data). Readers are null when not needed.
struct DataSplit {
  std::unique_ptr<calib::DataReader> all, calib, eval;
  bool held_out = false;  // eval holds samples calibration did not see
};
DataSplit split_data(const QuantizeJob& job, const Graph& graph);

// shape_stage.cpp: prep.value_info.unverified and the untyped node outputs settled by a run of the
// executor on the first sample (of
// the calibration or evaluation set; for a graph output without a shape, else of --calib or --eval-data),
// a warning per contradicting entry replaced; the graph and plan are built again. Without samples, a graph output left without a type or
// shape is a ModelError when `written` and ONNX's checker will check the model (it requires both), else
// the entries stay as declared.
void shape_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, bool written);

// A weight transform's result: a copy of the model and graph with new weights (same names), changed =
// false when it changed nothing, and what the report says about it.
template <class Summary>
struct Reweighted {
  bool changed = false;
  onnx::ModelProto model;
  Graph graph;
  std::map<std::string, QParams> params;  // weights whose quantization parameters changed too (table keys)
  Summary summary;
};
// adaround_stage.cpp: --adaround for a plan and its table: the rounded weights (and, with
// --bias-correction, the biases corrected in AdaRound's pass); rounded_model: a copy of the prepared
// model and graph with a result's weights (all of them, or transform::kept_rounding's part).
using Rounded = Reweighted<AdaRoundSummary>;
transform::AdaRoundResult learn_rounding_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                               const rewrite::QuantPlan& plan, const calib::CalibTable& table,
                                               bool float_inputs);
Rounded rounded_model(const Prepared& prep, const transform::AdaRoundResult& r);

// gptq_stage.cpp: --weight-method gptq for a plan and its table: GPTQ's weights (on the grid of the
// table's parameters, so the table still applies).
Reweighted<WeightMethodSummary> gptq_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                           const rewrite::QuantPlan& plan, const calib::CalibTable& table);
// awq_stage.cpp: --weight-method awq on the prepared model (before its weights are quantized): AWQ's scales
// searched on the calibration samples and folded in; replaces prep's model, graph and plan; fills
// result.weight_method.
void awq_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, QuantizeResult& result);
// summary.cpp: the weights' type, symmetry and granularity, and the edge layers kept in 8 bits.
std::string weights_text(const rewrite::QuantOptions& q);

// The summary of a weight method's result (gptq_stage.cpp).
WeightMethodSummary weight_method_summary(const std::string& method, const transform::WeightMethodResult& r);
// Checks --weight-method against the other options (UsageError).
void check_weight_method(const QuantizeJob& job);

// attempt.cpp: one quantized model for a plan and its table: AdaRound (a copy of the model with the
// rounded weights), bias correction (a corrected copy of the model, planned again: a layer may gain a
// bias), rewrite, evaluation against the FP32 graph.
struct Attempt {
  rewrite::QuantOptions quant;
  rewrite::QuantPlan plan;
  onnx::ModelProto quantized;
  size_t corrected_biases = 0;
  AdaRoundSummary adaround;
  std::map<std::string, QParams> rescaled;  // weight parameters AdaRound's scale search changed (table keys)
  WeightMethodSummary weight_method;  // GPTQ's (AWQ's runs before and is in the result)
  bool evaluated = false;
  report::EvalResult eval;
  std::string hint;
};

class AttemptBuilder {
 public:
  AttemptBuilder(const QuantizeJob& job, const Prepared& prep, const DataSplit& data);
  // The quantized model of `plan`, evaluated when there is evaluation data. With `data_file` its large
  // weights are written there as they are made (rewrite_model) and evaluated from it.
  Attempt build(const rewrite::QuantOptions& quant, const rewrite::QuantPlan& plan, const calib::CalibTable& table,
                onnx_io::DataFileWriter* data_file = nullptr);
  // Bias correction's channel means for the inputs of plan's layers (measured once, then reused).
  const std::map<std::string, std::vector<double>>& bias_means(const rewrite::QuantPlan& plan, const calib::CalibTable& table);
  // --adaround: the rounding, learned on `plan` and `table` (on FP32 inputs with float_inputs:
  // AdaRoundOptions::float_inputs), replacing any learned before. A precision search learns it on its
  // base plan (every layer 8-bit); build() keeps the part of it its plan still quantizes in 8 bits
  // (transform::kept_rounding), so the written model has the weights the search evaluated.
  void learn_rounding(const rewrite::QuantPlan& plan, const calib::CalibTable& table, bool float_inputs);
  // The rounding learned, or else learned now on the quantized model's inputs.
  const transform::AdaRoundResult& rounding(const rewrite::QuantPlan& plan, const calib::CalibTable& table);
  // What `plan` keeps of the rounding (the rescaled weight parameters written into `table`) applied to
  // `graph`, a copy of the prepared graph: what a search candidate runs with.
  void apply_rounding(const rewrite::QuantPlan& plan, Graph& graph, calib::CalibTable& table) const;

 private:
  const QuantizeJob& job_;
  const Prepared& prep_;
  const DataSplit& data_;
  std::map<std::string, std::vector<double>> means_;  // bias correction's channel means, measured once per tensor
  std::optional<transform::AdaRoundResult> rounding_;
};

// precision_stage.cpp: runs the precision search for job.tolerance and returns the options of the
// chosen model (job.quant with its PrecisionOverrides); fills summary (not `met`, which the written
// model's evaluation decides). `table` gains the tensors the search had to calibrate on the way.
rewrite::QuantOptions search_stage(const QuantizeJob& job, const Prepared& prep, const DataSplit& data,
                                   calib::CalibTable& table, AttemptBuilder& builder, PrecisionSummary& summary);
// Warns that the precision search and the sensitivity ranking see the model graph's layers only, when
// the plan quantizes nodes inside If/Loop bodies (they stay 8-bit and are not simulated).
void warn_body_quantizers(const rewrite::QuantPlan& plan, const char* what);
// html_stage.cpp: writes job.html_path (report/html_report.h) for the finished run: `plan` and `table`
// are the written model's.
void html_stage(const QuantizeJob& job, const Prepared& prep, const rewrite::QuantPlan& plan, const calib::CalibTable& table,
                const DataSplit& data, const QuantizeResult& result);
// Whether an evaluation meets the job's tolerance (true when none is set).
bool tolerance_met(const QuantizeJob& job, const report::EvalResult& eval);

}  // namespace ptq::pipeline
