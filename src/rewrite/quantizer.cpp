// SPDX-License-Identifier: Apache-2.0
// Quantization options (names, validation, the specs they imply), plan summaries and the calibration
// targets of a plan.
//   activations: activation_type, asymmetric unless symmetric_activations, full range
//   weights:     weight_type, always symmetric (zero point identical across channels, which
//                QLinearConv and ConvInteger need), reduce_range narrows them by one bit
// Allowed types (kActivationTypes / kWeightTypes; the CLI's choices come from the same lists):
//   activations uint8, int8, uint16, int16; weights int8, uint8, int16, int4, uint4.
//   4-bit weights: only ONNX-domain DequantizeLinear at opset 21 takes them (choose_format raises the
//   opset), not ConvInteger/MatMulInteger (the integer dynamic format), and reduce_range has nothing
//   to narrow (qspec.cpp): both combinations are usage errors.
#include "ptq/rewrite/quantizer.h"

#include <algorithm>
#include <set>

#include "ptq/util/error.h"

namespace ptq::rewrite {

std::string quant_mode_name(QuantMode mode) { return mode == QuantMode::Static ? "static" : "dynamic"; }

QuantMode quant_mode_from_name(const std::string& name) {
  if (name == "static") return QuantMode::Static;
  if (name == "dynamic") return QuantMode::Dynamic;
  PTQ_FAIL(UsageError, "unknown quantization mode '", name, "'; expected one of: static, dynamic");
}

std::string dynamic_format_name(DynamicFormat format) { return format == DynamicFormat::QDQ ? "qdq" : "integer"; }

DynamicFormat dynamic_format_from_name(const std::string& name) {
  if (name == "qdq") return DynamicFormat::QDQ;
  if (name == "integer") return DynamicFormat::Integer;
  PTQ_FAIL(UsageError, "unknown dynamic format '", name, "'; expected one of: qdq, integer");
}

std::string int4_format_name(Int4Format format) { return format == Int4Format::QDQ ? "qdq" : "matmulnbits"; }

Int4Format int4_format_from_name(const std::string& name) {
  if (name == "qdq") return Int4Format::QDQ;
  if (name == "matmulnbits") return Int4Format::MatMulNBits;
  PTQ_FAIL(UsageError, "unknown --int4-format '", name, "'; expected one of: qdq, matmulnbits");
}

const std::vector<int64_t>& block_sizes() {
  static const std::vector<int64_t> sizes = {16, 32, 64, 128};
  return sizes;
}

namespace {

const std::vector<QType> kActivationTypes = {QType::UInt8, QType::Int8, QType::UInt16, QType::Int16};
const std::vector<QType> kWeightTypes = {QType::Int8, QType::UInt8, QType::Int16, QType::Int4, QType::UInt4};

bool allowed(const std::vector<QType>& types, QType t) { return std::find(types.begin(), types.end(), t) != types.end(); }

std::string joined(const std::vector<QType>& types) {
  std::string s;
  for (QType t : types) s += (s.empty() ? "" : ", ") + qtype_name(t);
  return s;
}

}  // namespace

const std::vector<QType>& activation_types() { return kActivationTypes; }
const std::vector<QType>& weight_types() { return kWeightTypes; }

std::vector<std::string> type_names(const std::vector<QType>& types) {
  std::vector<std::string> names;
  for (QType t : types) names.push_back(qtype_name(t));
  return names;
}

namespace {

// --block-size and --int4-format (weight-only blocked quantization).
void validate_block_options(const QuantOptions& o) {
  const auto& sizes = block_sizes();
  if (o.block_size != 0 && std::find(sizes.begin(), sizes.end(), o.block_size) == sizes.end())
    PTQ_FAIL(UsageError, "--block-size ", o.block_size, " is not supported; expected one of: 16, 32, 64, 128");
  if (o.block_size != 0 && o.mode != QuantMode::Dynamic)
    PTQ_FAIL(UsageError, "--block-size applies to weight-only quantization; add --mode dynamic");
  if (o.block_size != 0 && o.dynamic_format == DynamicFormat::Integer)
    PTQ_FAIL(UsageError, "--block-size cannot be combined with --dynamic-format integer (MatMulInteger takes one scale per tensor)");
  if (o.block_size != 0 && qtype_bits(o.weight_type) > 8)
    PTQ_FAIL(UsageError, "--block-size takes 4- or 8-bit weights, not ", qtype_name(o.weight_type));
  if (o.int4_format == Int4Format::MatMulNBits && (qtype_bits(o.weight_type) != 4 || o.block_size == 0 || o.mode != QuantMode::Dynamic))
    PTQ_FAIL(UsageError, "--int4-format matmulnbits needs weight-only 4-bit blocks (--mode dynamic --weight-type int4|uint4 "
             "--block-size B), got ", quant_mode_name(o.mode), " mode, ", qtype_name(o.weight_type), " weights, block size ", o.block_size);
}

}  // namespace

void validate_options(const QuantOptions& o) {
  if (!allowed(kActivationTypes, o.activation_type))
    PTQ_FAIL(UsageError, "activation type ", qtype_name(o.activation_type), " is not supported; expected one of: ", joined(kActivationTypes));
  if (!allowed(kWeightTypes, o.weight_type))
    PTQ_FAIL(UsageError, "weight type ", qtype_name(o.weight_type), " is not supported; expected one of: ", joined(kWeightTypes));
  if (o.opset != 0 && o.opset != 13 && o.opset != 21)
    PTQ_FAIL(UsageError, "--opset ", o.opset, " is not supported; use 13 (ONNX-domain per-channel Q/DQ), 21 (ONNX-domain 16-bit Q/DQ) or leave it unset");
  if (o.mode == QuantMode::Dynamic && o.dynamic_format == DynamicFormat::Integer && !o.precision.wide_nodes.empty())
    PTQ_FAIL(UsageError, "the integer dynamic format has no 16-bit layers (ConvInteger/MatMulInteger take 8 bits); "
             "use --fallback float or --dynamic-format qdq");
  if (o.mode == QuantMode::Dynamic && o.dynamic_format == DynamicFormat::Integer && o.weight_type == QType::Int16)
    PTQ_FAIL(UsageError, "the integer dynamic format needs 8-bit weights (ConvInteger/MatMulInteger); "
             "use --weight-type int8|uint8 or --dynamic-format qdq");
  if (o.mode == QuantMode::Dynamic && o.dynamic_format == DynamicFormat::Integer && qtype_bits(o.weight_type) == 4)
    PTQ_FAIL(UsageError, "the integer dynamic format needs 8-bit weights (ConvInteger/MatMulInteger), not ", qtype_name(o.weight_type),
             "; use --weight-type int8|uint8 or --dynamic-format qdq");
  validate_block_options(o);
  if ((o.int8_first > 0 || o.int8_last > 0) && qtype_bits(o.weight_type) != 4)
    PTQ_FAIL(UsageError, "--int8-first/--int8-last keep the edge layers of a 4-bit model in 8 bits; the weights here are ",
             qtype_name(o.weight_type), " (add --weight-type int4|uint4, or drop them)");
  if (o.int8_embeddings > 0 && (qtype_bits(o.weight_type) != 4 || o.block_size == 0))
    PTQ_FAIL(UsageError, "--int8-embeddings applies to 4-bit blocks (--weight-type int4|uint4 --block-size B); drop it");
  if (o.asymmetric_weights && qtype_bits(o.weight_type) != 4)
    PTQ_FAIL(UsageError, "--asymmetric-weights applies to 4-bit weights (--weight-type int4|uint4, per channel or in --block-size "
             "blocks); the weights here are ", qtype_name(o.weight_type));
  if (o.asymmetric_weights && !o.per_channel)
    PTQ_FAIL(UsageError, "--asymmetric-weights needs per-channel weights; drop --per-tensor");
  if (o.reduce_range && qtype_bits(o.weight_type) == 4)
    PTQ_FAIL(UsageError, "--reduce-range does not apply to ", qtype_name(o.weight_type),
             " weights (4-bit products cannot overflow; halving 16 levels would ruin them); drop --reduce-range");
}

QuantSpec activation_spec(const QuantOptions& o) {
  QuantSpec s;
  s.type = o.activation_type;
  s.symmetric = o.symmetric_activations;
  return s;
}

QuantSpec weight_spec(const QuantOptions& o) {
  QuantSpec s;
  s.type = o.weight_type;
  s.symmetric = !o.asymmetric_weights;
  s.reduce_range = o.reduce_range;
  return s;
}

EdgeLayers int8_edges(const QuantOptions& o) {
  if (qtype_bits(o.weight_type) != 4) return {};
  const int first = o.block_size > 0 ? 0 : 1;  // the weight-only LLM path: the output head (and embeddings)
  return {o.int8_first < 0 ? first : o.int8_first, o.int8_last < 0 ? 1 : o.int8_last,
          o.block_size > 0 && o.int8_embeddings != 0};
}

QuantSpec edge_weight_spec(const QuantOptions& o) {
  QuantSpec s = weight_spec(o);
  s.type = o.weight_type == QType::UInt4 || o.unsigned_edges ? QType::UInt8 : QType::Int8;
  s.symmetric = true;  // integer kernels take weight zero point 0 (128 unsigned)
  return s;
}

QuantSpec wide_activation_spec(const QuantOptions& o) {
  QuantSpec s = activation_spec(o);
  const bool is_signed = o.activation_type == QType::Int8 || o.activation_type == QType::Int16;
  s.type = is_signed ? QType::Int16 : QType::UInt16;
  return s;
}

QuantSpec wide_weight_spec(const QuantOptions& o) {
  QuantSpec s = weight_spec(o);
  s.type = QType::Int16;
  s.symmetric = true;
  s.reduce_range = false;
  return s;
}

size_t QuantPlan::quantized_node_count() const {
  size_t n = 0;
  for_each_plan([&](const QuantPlan& plan) {
    for (const auto& p : plan.nodes) n += p.quantized && !p.removed;
  });
  return n;
}

size_t QuantPlan::float_node_count() const {
  size_t n = 0;
  for_each_plan([&](const QuantPlan& plan) {
    for (const auto& p : plan.nodes) n += !p.quantized && !p.removed && p.compute;
  });
  return n;
}

size_t QuantPlan::shape_node_count() const {
  size_t n = 0;
  for_each_plan([&](const QuantPlan& plan) {
    for (const auto& p : plan.nodes) n += !p.quantized && !p.removed && !p.compute;
  });
  return n;
}

size_t QuantPlan::pattern_node_count() const {
  size_t n = 0;
  for_each_plan([&](const QuantPlan& plan) {
    for (const auto& p : plan.nodes) n += p.quantized && !p.removed && !p.pattern.empty();
  });
  return n;
}

void QuantPlan::for_each_plan(const std::function<void(const QuantPlan&)>& fn) const {
  fn(*this);
  for (const auto& s : subgraphs) s.plan->for_each_plan(fn);
}

std::vector<calib::CalibTarget> calib_targets(const QuantPlan& plan) {
  std::vector<calib::CalibTarget> targets;
  std::set<std::string> listed;
  plan.for_each_plan([&](const QuantPlan& p) {
    for (const auto& [name, t] : p.tensors) {
      if (t.kind == TensorPlan::Kind::Bias || !t.params_from.empty() || !listed.insert(t.table_key()).second) continue;
      calib::CalibTarget c;
      c.tensor = t.table_key();
      c.spec = t.spec;
      c.axis = t.axis;
      c.block = t.block;
      c.is_weight = t.constant;
      c.fixed = t.fixed;
      c.fixed_range = t.range;
      c.softmax = t.softmax;
      c.gain = t.gain;
      targets.push_back(c);
    }
  });
  return targets;
}

}  // namespace ptq::rewrite
