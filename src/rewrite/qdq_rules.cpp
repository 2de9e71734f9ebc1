// SPDX-License-Identifier: Apache-2.0
// The Q/DQ rule table: one row per op type (default ONNX domain), pointing at its family's rule.
// Families and what they decide (see each file's header):
//   conv         Conv, ConvTranspose: activation input, weight per channel (axis 0 / 1), int32 bias
//   matmul       Gemm, MatMul: activation inputs, weight per channel (Gemm axis 0 if transB else 1,
//                MatMul last axis), Gemm bias int32
//   own_scales   Add, Sub, Mul, Concat, Where, AveragePool, GlobalAveragePool, Sigmoid, Softmax, LeakyRelu,
//                HardSigmoid, HardSwish, Gelu: every float input and the output with their own parameters
//                (Softmax input: range from the values near each row's maximum; mask operands stay float)
//                (Mul by a per-channel constant feeding MatMul/Gemm only: its output alone, channel_scale.cpp)
//   layer_norm   LayerNormalization: activation input, γ a weight (per channel, last axis), β int32 bias
//   div          Div by a divisor that does not depend on the data: the dividend and the output
// Patterns (qdq_patterns.cpp: Erf-GELU, LayerNorm decomposed before opset 17) claim their nodes first:
// quantized at their boundary, float inside.
//   passthrough  MaxPool and data movement: the output reuses the data input's scale and zero point
//                (so ONNX Runtime drops the DQ→op→Q pair)
//   removable    Relu, Clip: folded into the producer's output range when activations are asymmetric
//   recurrent    LSTM, GRU, RNN: W and R int8 per channel along axis 1 (one scale per gate row), in
//                static and dynamic mode; LSTM becomes DynamicQuantizeLSTM in the dynamic integer format
// Ops without a row stay float (the safe default).
#include <algorithm>

#include "rules/rules.h"

namespace ptq::rewrite {

const std::vector<QdqRuleEntry>& qdq_rule_table() {
  // clang-format off
  static const std::vector<QdqRuleEntry> table = {
      {"Conv",              "conv",        &rule_conv},
      {"ConvTranspose",     "conv",        &rule_conv},
      {"Gemm",              "matmul",      &rule_gemm},
      {"MatMul",            "matmul",      &rule_matmul},
      {"Add",               "own_scales",  &rule_own_scales},
      {"Sub",               "own_scales",  &rule_own_scales},
      {"Mul",               "own_scales",  &rule_mul},
      {"Concat",            "own_scales",  &rule_own_scales},
      {"Where",             "own_scales",  &rule_own_scales},
      {"AveragePool",       "own_scales",  &rule_own_scales},
      {"GlobalAveragePool", "own_scales",  &rule_own_scales},
      {"Sigmoid",           "own_scales",  &rule_own_scales},
      {"Softmax",           "own_scales",  &rule_own_scales},
      {"LeakyRelu",         "own_scales",  &rule_own_scales},
      {"HardSigmoid",       "own_scales",  &rule_own_scales},
      {"HardSwish",         "own_scales",  &rule_own_scales},
      {"Gelu",              "own_scales",  &rule_own_scales},
      {"LayerNormalization", "layer_norm", &rule_layer_norm},
      {"Div",               "div",         &rule_div},
      {"MaxPool",           "passthrough", &rule_passthrough},
      {"Reshape",           "passthrough", &rule_passthrough},
      {"Transpose",         "passthrough", &rule_passthrough},
      {"Squeeze",           "passthrough", &rule_passthrough},
      {"Unsqueeze",         "passthrough", &rule_passthrough},
      {"Flatten",           "passthrough", &rule_passthrough},
      {"Slice",             "passthrough", &rule_slice},
      {"Resize",            "passthrough", &rule_passthrough},
      {"Split",             "passthrough", &rule_passthrough},
      {"Pad",               "passthrough", &rule_pad},
      {"Gather",            "passthrough", &rule_gather},
      {"Relu",              "removable",   &rule_removable_activation},
      {"Clip",              "removable",   &rule_removable_activation},
      {"LSTM",              "recurrent",   &rule_recurrent},
      {"GRU",               "recurrent",   &rule_recurrent},
      {"RNN",               "recurrent",   &rule_recurrent},
  };
  // clang-format on
  return table;
}

const QdqRuleEntry* find_qdq_rule(const std::string& op_type) {
  for (const auto& row : qdq_rule_table())
    if (op_type == row.op_type) return &row;
  return nullptr;
}

std::string quantizable_op_types() {
  std::vector<std::string> names;
  for (const auto& row : qdq_rule_table()) names.emplace_back(row.op_type);
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

DType RuleContext::dtype(const std::string& tensor) const {
  if (tensor.empty()) return DType::Undefined;
  if (const Tensor* w = weight(tensor)) return w->dtype();
  const ValueInfo* vi = scope ? scope->info(tensor) : graph.info(tensor);
  return vi ? vi->dtype : DType::Undefined;
}

int RuleContext::rank(const std::string& tensor) const {
  if (const Tensor* w = weight(tensor)) return w->rank();
  const ValueInfo* vi = scope ? scope->info(tensor) : graph.info(tensor);
  return vi && vi->has_shape ? static_cast<int>(vi->dims.size()) : -1;
}

bool is_integer_weight_input(IntegerForm form, size_t index) {
  switch (form) {
    case IntegerForm::None: return false;
    case IntegerForm::ConvInteger:
    case IntegerForm::MatMulInteger: return index == 1;
    case IntegerForm::DynamicQuantizeLSTM: return index == 1 || index == 2;
  }
  return false;
}

RuleDecision skip_node(std::string reason) {
  RuleDecision d;
  d.skip = std::move(reason);
  return d;
}

std::string require_float_input(const Node& node, size_t index, const RuleContext& ctx) {
  const std::string& name = node.input(index);
  if (name.empty()) return "input " + std::to_string(index) + " is missing";
  DType t = ctx.dtype(name);
  if (t == DType::Undefined) return "input '" + name + "' has an unknown type";
  if (t != DType::Float32) return "input '" + name + "' is " + dtype_name(t) + ", not float32";
  return "";
}

std::string require_float_outputs(const Node& node, const RuleContext& ctx) {
  for (const auto& o : node.outputs) {
    if (o.empty()) continue;
    DType t = ctx.dtype(o);
    if (t == DType::Undefined) return "output '" + o + "' has an unknown type";
    if (t != DType::Float32) return "output '" + o + "' is " + dtype_name(t) + ", not float32";
  }
  return "";
}

}  // namespace ptq::rewrite
