// SPDX-License-Identifier: Apache-2.0
// Dynamic "integer" format: what ONNX Runtime's quantize_dynamic (QOperator format) emits, with the
// same names. For Y = Conv(X, W, B) or Y = MatMul(X, W), `base` = node name (or Y when unnamed):
//   X → DynamicQuantizeLinear (X_QuantizeLinear) → X_quantized (uint8), X_scale, X_zero_point
//   ConvInteger|MatMulInteger(X_quantized, W_quantized, X_zero_point, W_zero_point)   (base_quant)
//       → Y_output_quantized (int32) → Cast to float (Y_output_quantized_cast) → Y_output_quantized_cast_output
//   Mul(X_scale, W_scale) (base_quant_scales_mul) → base_quant_scales_mul:0
//   Mul(cast output, scales) (base_quant_output_scale_mul) → Y        (or Y_quant_scaled_output with a bias)
//   Conv bias: Reshape(B, Y_bias_reshape_shape = [1, -1, 1, ...]) → Y_bias_reshape_output; Add → Y (Y_bias_add)
// Y = s_X · s_W · Σ (X_q − z_X)(W_q − z_W) (+ B): exact integer accumulation, float rescale.
// Weights: ConvInteger in ONNX Runtime accepts only a per-tensor weight zero point, so W_zero_point
// is a scalar (weights are symmetric: every channel has the same zero point) while per-channel
// scales go into the rescale as W_scale of shape [M, 1, ..., 1]; MatMulInteger takes per-column
// zero points [N] and W_scale [N] broadcasts over the last axis.
#include "emitter.h"
#include "ptq/quant/scale.h"
#include "ptq/util/error.h"

namespace ptq::rewrite {

const std::vector<std::string>& Emitter::dynamic_quantize(const std::string& x) {
  auto it = dynamic_q_.find(x);
  if (it != dynamic_q_.end()) return it->second;
  std::vector<std::string> outs = {names_.unique(x + "_quantized"), names_.unique(x + "_scale"),
                                   names_.unique(x + "_zero_point")};
  add_node("DynamicQuantizeLinear", names_.unique(x + "_QuantizeLinear"), {x}, outs, "");
  return dynamic_q_[x] = outs;
}

void Emitter::integer_weight(const std::string& w, IntegerForm form, int rank, std::string& q, std::string& scale,
                             std::string& zero_point) {
  auto it = integer_weights_.find(w);
  if (it == integer_weights_.end()) {
    const QParams& p = params_of(w);
    Tensor scales = scale_tensor(p);
    QParams zp = p;
    if (form == IntegerForm::ConvInteger && p.per_channel()) {
      for (int32_t z : p.zero_point) PTQ_CHECK(z == p.zero_point[0]);  // symmetric weights
      zp.axis = -1;
      zp.zero_point.resize(1);
      Shape shape(static_cast<size_t>(std::max(rank - 1, 1)), 1);
      shape[0] = static_cast<int64_t>(p.scale.size());
      scales = scales.reshaped(shape);
    }
    if (!chain_.defines(w)) replaced_outer_.insert(w);
    std::vector<std::string> names = {store_weight(quantize_tensor(weight(w), p), w + "_quantized"),
                                      add_initializer(scales, w + "_scale"),
                                      add_initializer(zero_point_tensor(zp), w + "_zero_point")};
    it = integer_weights_.emplace(w, names).first;
  }
  q = it->second[0];
  scale = it->second[1];
  zero_point = it->second[2];
}

void Emitter::emit_integer_node(int index) {
  const Node& node = g_.nodes[static_cast<size_t>(index)];
  const NodePlan& np = plan_.nodes[static_cast<size_t>(index)];
  if (np.integer == IntegerForm::DynamicQuantizeLSTM) return emit_integer_lstm(index);
  const onnx::NodeProto& proto = source_.node(node.proto_index);
  const std::string& y = node.outputs[0];
  const std::string base = node.name.empty() ? y : node.name;
  const int rank_w = weight(node.input(1)).rank();
  const bool conv = np.integer == IntegerForm::ConvInteger;

  const std::vector<std::string> xq = dynamic_quantize(node.input(0));
  std::string wq, wscale, wzp;
  integer_weight(node.input(1), np.integer, rank_w, wq, wscale, wzp);
  const std::string acc = names_.unique(y + "_output_quantized");
  onnx::NodeProto& op = add_node(conv ? "ConvInteger" : "MatMulInteger", names_.unique(base + "_quant"),
                                 {xq[0], wq, xq[2], wzp}, {acc}, "");
  if (conv)
    for (const auto& a : proto.attribute()) *op.add_attribute() = a;
  const std::string cast_out = names_.unique(acc + "_cast_output");
  onnx::NodeProto& cast = add_node("Cast", names_.unique(acc + "_cast"), {acc}, {cast_out}, "");
  auto* to = cast.add_attribute();
  to->set_name("to");
  to->set_type(onnx::AttributeProto::INT);
  to->set_i(onnx::TensorProto::FLOAT);
  const std::string scales_name = names_.unique(base + "_quant_scales_mul");
  const std::string scales = names_.unique(scales_name + ":0");
  add_node("Mul", scales_name, {xq[1], wscale}, {scales}, "");
  const bool has_bias = conv && node.has_input(2);
  const std::string scaled = has_bias ? names_.unique(y + "_quant_scaled_output") : y;
  add_node("Mul", names_.unique(base + "_quant_output_scale_mul"), {cast_out, scales}, {scaled}, "");
  if (!has_bias) return;
  std::vector<int64_t> shape(static_cast<size_t>(rank_w), 1);
  shape[1] = -1;
  const std::string shape_name = add_initializer(Tensor::from_vector(shape, {rank_w}), y + "_bias_reshape_shape");
  const std::string reshaped = names_.unique(y + "_bias_reshape_output");
  add_node("Reshape", names_.unique(y + "_bias_reshape"), {node.input(2), shape_name}, {reshaped}, "");
  add_node("Add", names_.unique(y + "_bias_add"), {scaled, reshaped}, {y}, "");
}

}  // namespace ptq::rewrite
