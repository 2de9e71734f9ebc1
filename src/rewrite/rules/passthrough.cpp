// SPDX-License-Identifier: Apache-2.0
// Rules for MaxPool and data movement (Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Slice, Resize,
// Split, Pad, Gather on data): the op only moves, selects or (Resize, MaxPool) picks values inside
// the input's range, so every output reuses the data input's scale and zero point. The Q after the op
// then has the same parameters as the DQ before it, and ONNX Runtime drops the pair (IsQDQPairSupported)
// and runs the op on integers. Nothing is quantized unless the data input already is (quantized by
// its producer or by another consumer), as ONNX Runtime's QDQDirect8BitOp does.
//   Pad: only when the padding value is 0 (always representable); another constant value gets its
//        own output parameters.
//   Gather: in dynamic mode a constant data input (an embedding table) is a per-tensor weight; with
//           --block-size a 2-D table gathered along axis 0 is blocked along its last axis (each row's
//           blocks: what ONNX Runtime's GatherBlockQuantized reads).
//   Slice:  with --block-size (weight-only blocks), a constant data input of rank >= 2 (a learned
//           positional table, a causal mask) is a weight blocked along its last axis, as a Gather table.
#include "rules.h"

namespace ptq::rewrite {
namespace {

RuleDecision share_outputs(const Node& node) {
  RuleDecision d;
  for (size_t o = 0; o < node.outputs.size(); ++o)
    if (!node.outputs[o].empty()) d.outputs.push_back({o, OutputUse::SameAsInput, 0});
  return d;
}

// The constant padding value of a constant-mode Pad: attribute `value` before opset 11, else input 2.
// Returns false when it is not known offline.
bool pad_value(const Node& node, const RuleContext& ctx, float& value) {
  value = 0.0f;
  if (node.opset < 11) {
    value = node.attr_float("value", 0.0f);
    return true;
  }
  const std::string& name = node.input(2);
  if (name.empty()) return true;
  const Tensor* t = ctx.graph.weight(name);
  if (!t || t->numel() != 1 || t->dtype() != DType::Float32) return false;
  value = t->data<float>()[0];
  return true;
}

}  // namespace

RuleDecision rule_passthrough(const Node& node, const RuleContext& ctx) {
  if (std::string why = require_float_input(node, 0, ctx); !why.empty()) return skip_node(why);
  if (std::string why = require_float_outputs(node, ctx); !why.empty()) return skip_node(why);
  return share_outputs(node);
}

RuleDecision rule_pad(const Node& node, const RuleContext& ctx) {
  RuleDecision d = rule_passthrough(node, ctx);
  if (!d.skip.empty()) return d;
  float value = 0.0f;
  if (node.attr_string("mode", "constant") != "constant" || (pad_value(node, ctx, value) && value == 0.0f)) return d;
  d.inputs = {{0, InputUse::Activation}};
  d.outputs = {{0, OutputUse::Own}};
  return d;
}

RuleDecision rule_slice(const Node& node, const RuleContext& ctx) {
  RuleDecision d = rule_passthrough(node, ctx);
  if (!d.skip.empty() || ctx.options.mode != QuantMode::Dynamic || ctx.options.block_size == 0) return d;
  const int rank = ctx.rank(node.input(0));
  if (ctx.is_weight(node.input(0)) && rank >= 2) {
    d.inputs = {{0, InputUse::Weight, -1}};
    d.inputs.back().block_axis = rank - 1;
  }
  return d;
}

RuleDecision rule_gather(const Node& node, const RuleContext& ctx) {
  RuleDecision d = rule_passthrough(node, ctx);
  if (!d.skip.empty()) return d;
  if (ctx.options.mode == QuantMode::Dynamic && ctx.is_weight(node.input(0))) {
    d.inputs = {{0, InputUse::Weight, -1}};
    if (ctx.rank(node.input(0)) == 2 && node.attr_int("axis", 0) == 0) d.inputs.back().block_axis = 1;
  }
  return d;
}

}  // namespace ptq::rewrite
