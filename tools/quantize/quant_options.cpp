// SPDX-License-Identifier: Apache-2.0
#include "quant_options.h"

#include "commands.h"
#include "ptq/calib/observer.h"
#include "ptq/rewrite/target.h"

namespace ptq::cli {
namespace {

// A CLI11 check from a library table lookup, which throws UsageError listing the allowed names.
template <class Find>
auto lookup_check(Find find) {
  return [find](const std::string& value) {
    try {
      find(value);
      return std::string();
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
  };
}

}  // namespace

void add_quant_options(CLI::App& cmd, QuantFlags& f) {
  const char* group = "Quantization";
  cmd.add_option("--mode", f.mode, "static (activations and weights; needs --calib) or dynamic (weights only)")
      ->check(CLI::IsMember({"static", "dynamic"}))->group(group);
  std::string targets;
  for (const auto& t : rewrite::target_table()) targets += std::string("\n  ") + t.name + ": " + t.help;
  cmd.add_option("--target", f.target,
                 "Deployment target: types, symmetry, per-channel axes, bias and opset from its rules; explicit flags "
                 "override its defaults or are refused when they break a rule; the written model is checked (default: "
                 "ort-cpu, unchecked):" + targets)
      ->check(lookup_check(rewrite::find_target))->group(group);
  cmd.add_option("--activation-type", f.activation_type, "Activation type (default: the target's, uint8)")
      ->check(CLI::IsMember(rewrite::type_names(rewrite::activation_types())))->group(group);
  cmd.add_option("--weight-type", f.weight_type, "Weight type (default: the target's, int8; int4/uint4: opset-21 DequantizeLinear, the model is upgraded to opset 21)")
      ->check(CLI::IsMember(rewrite::type_names(rewrite::weight_types())))->group(group);
  cmd.add_flag("--per-tensor", f.per_tensor, "One weight scale per tensor (default: per output channel)")->group(group);
  cmd.add_flag("--asymmetric-weights", f.asymmetric_weights,
               "4-bit weights: a zero point per output channel (per block with --block-size), the 16 levels spanning [min, max] "
               "(default: symmetric)")
      ->group(group);
  cmd.add_flag("--symmetric-activations", f.symmetric_activations, "Symmetric activation ranges (TensorRT style; keeps Relu/Clip)")->group(group);
  cmd.add_flag("--reduce-range", f.reduce_range, "Weights one bit narrower (for CPUs without VNNI)")->group(group);
  cmd.add_option("--exclude", f.exclude, "Node names (globs allowed) to leave in float")->delimiter(',')->group(group);
  cmd.add_option("--op-types", f.op_types, "Quantize only these op types; quantizable: " + rewrite::quantizable_op_types())
      ->delimiter(',')->group(group);
  cmd.add_option("--float-first", f.float_first, "Leave the first N compute layers (Conv/Gemm/MatMul and the nodes around them) float")
      ->check(whole_number())->group(group);
  cmd.add_option("--float-last", f.float_last, "Leave the last N compute layers (and everything after them) float")
      ->check(whole_number())->group(group);
  cmd.add_option("--int8-first", f.int8_first,
                 "With --weight-type int4|uint4: the first N compute layers keep 8-bit weights (int8; uint8 with uint4); "
                 "default 1 (0 with --block-size), 0 = every layer 4-bit")
      ->check(whole_number())->group(group);
  cmd.add_option("--int8-last", f.int8_last,
                 "With --weight-type int4|uint4: the last N compute layers (classifier, heads, a language model's output "
                 "head) keep 8-bit weights; default 1")
      ->check(whole_number())->group(group);
  cmd.add_option("--int8-embeddings", f.int8_embeddings,
                 "With --weight-type int4|uint4 --block-size: embedding tables (read by Gather) in 8-bit blocks; default on")
      ->check(CLI::IsMember({"on", "off"}))->group(group);
  cmd.add_flag("--auto-float", f.auto_float, "Shorthand for --target-cosine 0.99 --fallback float (main command)")->group(group);
  cmd.add_option("--opset", f.opset, "13: at least opset 13 (ONNX-domain per-channel Q/DQ); 21: upgrade the model to opset 21 (ONNX-domain 16-bit Q/DQ); default: keep (or the target's)")->group(group);
  cmd.add_option("--dynamic-format", f.dynamic_format, "Dynamic mode: qdq (DQ on weights) or integer (DynamicQuantizeLinear + MatMulInteger/ConvInteger)")
      ->check(CLI::IsMember({"qdq", "integer"}))->group(group);
  cmd.add_option("--block-size", f.block_size,
                 "Weight-only (--mode dynamic): MatMul/Gemm weights (and Gather tables) in blocks of 16|32|64|128 along K, "
                 "opset-21 DequantizeLinear with block_size")->group(group);
  cmd.add_option("--int4-format", f.int4_format,
                 "With 4-bit blocks: qdq (DequantizeLinear -> MatMul, which ONNX Runtime fuses into MatMulNBits) or "
                 "matmulnbits (com.microsoft MatMulNBits written directly)")
      ->check(CLI::IsMember({"qdq", "matmulnbits"}))->group(group);
  cmd.add_option("--weight-method", f.weight_method,
                 "Weight-only rounding: rtn (to nearest), gptq (error feedback through the input Hessian), awq (activation-aware "
                 "channel scales); gptq and awq need --calib")
      ->check(CLI::IsMember(pipeline::weight_methods()))->group(group);
  cmd.add_flag("--act-order", f.act_order, "GPTQ: quantize columns in order of decreasing Hessian diagonal")->group(group);
  cmd.add_flag("--keep-activations", f.keep_activations, "Keep Relu/Clip nodes instead of folding them into the producer's range")->group(group);
  cmd.add_flag("--float-bias", f.float_bias, "Leave Conv/Gemm biases in float instead of int32")->group(group);
  cmd.add_flag("--dedicated-qdq-pairs", f.dedicated_pairs, "One Q/DQ pair per consumer (TensorRT)")->group(group);
  cmd.add_flag("--no-fold-bn", f.no_fold_bn, "Do not fold BatchNormalization into the preceding Conv")->group(group);
  cmd.add_flag("--bias-correction", f.bias_correction,
               "Subtract each Conv/Gemm's weight-rounding shift (W_q - W)·E[x] from its bias (E[x] over the --calib samples; main command)")
      ->group(group);
  f.smooth_quant_option = cmd.add_option("--smooth-quant", f.smooth_quant,
                 "SmoothQuant before calibration: s_j = max|X_j|^alpha / max|W_j|^(1-alpha) per input channel of each "
                 "MatMul/Gemm fed by activations, folded into the producer or an inserted Mul (alpha default 0.5; needs --calib)")
      ->expected(0, 1)->group(group);
  cmd.add_flag("--equalize", f.equalize,
               "Channel equalization before calibration, for Conv tensors whose channels' ranges one per-tensor grid cannot "
               "hold: a Conv output's channels scaled into its weights and restored by a float Mul (the activations reading "
               "it run float), a Conv input's channels moved into the Conv's weights (needs --calib)")
      ->group(group);
  cmd.add_flag("--split-channels", f.split_channels,
               "Channel splitting before calibration, for a Conv whose output channels' ranges one per-tensor grid cannot hold "
               "and that a depthwise Conv reads (a detector's stem on raw pixels): the Conv, its activations and the depthwise "
               "Conv become one integer chain per group of channels of similar range, concatenated after (needs --calib)")
      ->group(group);
}

rewrite::QuantOptions to_quant_options(const QuantFlags& f) {
  rewrite::QuantOptions o;
  o.mode = rewrite::quant_mode_from_name(f.mode);
  if (!f.activation_type.empty()) o.activation_type = qtype_from_name(f.activation_type);
  if (!f.weight_type.empty()) o.weight_type = qtype_from_name(f.weight_type);
  o.per_channel = !f.per_tensor;
  o.asymmetric_weights = f.asymmetric_weights;
  o.symmetric_activations = f.symmetric_activations;
  o.reduce_range = f.reduce_range;
  o.exclude = f.exclude;
  o.op_types = f.op_types;
  o.opset = f.opset;
  o.float_first = f.float_first;
  o.float_last = f.float_last;
  o.int8_first = f.int8_first;
  o.int8_last = f.int8_last;
  o.int8_embeddings = f.int8_embeddings.empty() ? -1 : f.int8_embeddings == "on" ? 1 : 0;
  o.dynamic_format = rewrite::dynamic_format_from_name(f.dynamic_format);
  o.int4_format = rewrite::int4_format_from_name(f.int4_format);
  o.block_size = f.block_size;
  o.keep_removable_activations = f.keep_activations;
  o.quantize_bias = !f.float_bias;
  o.dedicated_qdq_pairs = f.dedicated_pairs;
  rewrite::GivenFlags given;
  given.activation_type = !f.activation_type.empty();
  given.weight_type = !f.weight_type.empty();
  given.per_tensor = f.per_tensor;
  given.symmetric_activations = f.symmetric_activations;
  given.opset = f.opset != 0;
  rewrite::apply_target(rewrite::effective_target(f.target), given, o);
  return o;
}

void add_calib_options(CLI::App& cmd, calib::CalibOptions& o) {
  const char* group = "Calibration";
  std::string methods;
  for (const auto& e : calib::observer_table()) methods += std::string("\n  ") + e.name + ": " + e.help;
  cmd.add_option("--method", o.method, "Calibration method (default percentile):" + methods)
      ->check(lookup_check(calib::find_observer))
      ->group(group);
  std::string ranges;
  for (const auto& e : calib::weight_observer_table()) ranges += std::string("\n  ") + e.name + ": " + e.help;
  cmd.add_option("--weight-range", o.weight_range, "Weight ranges instead of the method's own (dynamic mode: default minmax):" + ranges)
      ->check(lookup_check(calib::find_weight_observer))
      ->group(group);
  cmd.add_option("--percentile", o.percentile, "Percentile kept by --method percentile (default 99.999)")->group(group);
  cmd.add_option("--moving-average", o.moving_average, "EMA constant for --method minmax (0: running min/max)")->group(group);
  cmd.add_option("--eq-samples", o.eq_samples, "Samples used by --method eq's per-layer search (default 50)")->group(group);
  cmd.add_option("--threads", o.threads, "Threads (default: all cores)")->group(group);
}

void add_export_option(CLI::App& cmd, QuantFlags& flags) {
  std::string formats;
  for (const auto& f : table_export::export_formats()) formats += "\n  " + f.name + ": " + f.description;
  cmd.add_option("--export-table", flags.export_tables,
                 "Also write the calibration table as FORMAT:FILE for a runtime that takes no Q/DQ (repeatable):" + formats)
      ->take_all()
      ->allow_extra_args(false)
      ->group("Output");
}

void refuse_main_only_flags(const QuantFlags& flags, const std::string& command) {
  for (const auto& [given, flag] : {std::pair{flags.auto_float, "--auto-float"}, std::pair{flags.bias_correction, "--bias-correction"}})
    if (given) throw UsageError(std::string(flag) + " applies to the main command only, not to `quantize " + command + "`");
}

pipeline::QuantizeJob finish_job(const pipeline::QuantizeJob& parsed, const QuantFlags& flags, bool quiet) {
  pipeline::QuantizeJob job = parsed;
  job.quant = to_quant_options(flags);
  job.target = flags.target;
  job.fold_batch_norm = !flags.no_fold_bn;
  job.bias_correction = flags.bias_correction;
  job.smooth_quant_alpha = flags.smooth_quant;
  job.equalize = flags.equalize;
  job.split_channels = flags.split_channels;
  job.weight_method = flags.weight_method;
  job.act_order = flags.act_order;
  if (const CLI::Option* sq = flags.smooth_quant_option; sq && sq->count() > 0 && (sq->results().empty() || sq->results()[0].empty()))
    job.smooth_quant_alpha = 0.5f;  // given without a value
  job.calib_samples = job.data.max_samples;
  job.calib.progress = !quiet;
  for (const auto& spec : flags.export_tables) job.export_tables.push_back(table_export::parse_export_request(spec));
  return job;
}

}  // namespace ptq::cli
