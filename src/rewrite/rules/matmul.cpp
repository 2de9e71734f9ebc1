// SPDX-License-Identifier: Apache-2.0
// Rules for Gemm and MatMul.
//   Gemm:   Y = alpha · A' · B' + beta · C   (A' = A or Aᵀ, B' = B or Bᵀ by transA/transB)
//           constant B: weight per channel along N: axis 0 if transB else 1;
//           C: int32 bias with scale s_A · s_B[n] when alpha = beta = 1 (what ONNX Runtime's QGemm
//           fusion accepts), else it stays float.
//   MatMul: Y = A · B (numpy matmul); constant B [..., K, N]: weight per channel along N (last axis);
//           dynamic "integer" format: a constant 2-D B becomes MatMulInteger.
// With --block-size (weight-only), a constant 2-D B is blocked along K instead: axis 0 for MatMul and
// Gemm without transB, axis 1 for Gemm with transB (QuantOptions::block_size).
// A constant A is quantized per tensor; computed inputs are activations; the output has its own parameters.
#include "rules.h"

namespace ptq::rewrite {
namespace {

std::string require_float_operands(const Node& node, const RuleContext& ctx) {
  for (size_t i : {0u, 1u})
    if (std::string why = require_float_input(node, i, ctx); !why.empty()) return why;
  return require_float_outputs(node, ctx);
}

InputDecision operand(const Node& node, size_t index, int axis, const RuleContext& ctx) {
  if (!ctx.is_weight(node.input(index))) return {index, InputUse::Activation};
  return {index, InputUse::Weight, axis};
}

}  // namespace

RuleDecision rule_gemm(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_operands(node, ctx); !why.empty()) return skip_node(why);
  RuleDecision d;
  d.inputs.push_back(operand(node, 0, -1, ctx));
  const bool trans_b = node.attr_int("transB", 0) != 0;
  d.inputs.push_back(operand(node, 1, trans_b ? 0 : 1, ctx));
  d.inputs.back().block_axis = trans_b ? 1 : 0;
  const std::string& bias = node.input(2);
  const bool unit_coefficients = node.attr_float("alpha", 1.0f) == 1.0f && node.attr_float("beta", 1.0f) == 1.0f;
  if (!bias.empty() && unit_coefficients && ctx.is_weight(node.input(1)) && ctx.is_weight(bias) && ctx.is_float(bias))
    d.inputs.push_back({2, InputUse::Bias, -1, 0, 1});
  d.outputs.push_back({0, OutputUse::Own});
  return d;
}

RuleDecision rule_matmul(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_operands(node, ctx); !why.empty()) return skip_node(why);
  const int rank_b = ctx.rank(node.input(1));
  RuleDecision d;
  d.inputs.push_back(operand(node, 0, -1, ctx));
  d.inputs.push_back(operand(node, 1, rank_b >= 2 ? rank_b - 1 : -1, ctx));
  if (rank_b == 2) d.inputs.back().block_axis = 0;
  d.outputs.push_back({0, OutputUse::Own});
  if (rank_b == 2 && ctx.is_weight(node.input(1)) && !ctx.is_weight(node.input(0)))
    d.integer = IntegerForm::MatMulInteger;
  return d;
}

}  // namespace ptq::rewrite
