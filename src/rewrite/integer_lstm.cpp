// SPDX-License-Identifier: Apache-2.0
// Dynamic "integer" format of LSTM: ONNX Runtime's com.microsoft DynamicQuantizeLSTM, as its
// quantize_dynamic writes it (onnxruntime/python/tools/quantization/operators/lstm.py and the contrib
// schema in quantization_defs.cc):
//   DynamicQuantizeLSTM(X, W_quantized, R_quantized, B, sequence_lens, initial_h, initial_c, P,
//                       W_scale, W_zero_point, R_scale, R_zero_point) → Y, Y_h, Y_c   (name: base + "_quant")
//   W_quantized [num_directions, input_size, 4·hidden]: W [num_directions, 4·hidden, input_size]
//     quantized per gate row (axis 1), then its last two axes swapped; R the same with hidden_size.
//   scales / zero points [num_directions, 4·hidden] per channel (a bidirectional layer's rows share their
//     scale across the two directions, as in the Q/DQ form), [num_directions] per tensor.
// The attributes are the LSTM's (the rule admits layout 0 only: the contrib op has no layout).
// ONNX Runtime quantizes X and the hidden state to uint8 on the fly, step by step; ptq's executor runs
// the op with the dequantized weights in float (kernels/dynamic_quantize_lstm.cpp).
#include "emitter.h"
#include "ptq/quant/scale.h"
#include "ptq/util/error.h"

namespace ptq::rewrite {
namespace {

// [D, A, B] → [D, B, A] (any 1-byte element type).
Tensor swap_last_two(const Tensor& t) {
  const int64_t d = t.dim(0), a = t.dim(1), b = t.dim(2);
  Tensor out(t.dtype(), {d, b, a});
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t k = 0; k < d; ++k)
    for (int64_t i = 0; i < a; ++i)
      for (int64_t j = 0; j < b; ++j) dst[(k * b + j) * a + i] = src[(k * a + i) * b + j];
  return out;
}

// Per direction copies of per-channel (or per-tensor) parameters: [D, C] or [D].
QParams per_direction(const QParams& p, int64_t directions) {
  QParams out = p;
  out.scale.clear();
  out.zero_point.clear();
  for (int64_t d = 0; d < directions; ++d) {
    out.scale.insert(out.scale.end(), p.scale.begin(), p.scale.end());
    out.zero_point.insert(out.zero_point.end(), p.zero_point.begin(), p.zero_point.end());
  }
  out.axis = 0;
  return out;
}

}  // namespace

void Emitter::emit_integer_lstm(int index) {
  const Node& node = g_.nodes[static_cast<size_t>(index)];
  const onnx::NodeProto& proto = source_.node(node.proto_index);
  std::vector<std::string> inputs;
  for (size_t k = 0; k < 8; ++k) inputs.push_back(node.has_input(k) ? reader_name(index, node.input(k)) : "");
  std::vector<std::string> params;
  for (size_t k : {1u, 2u}) {
    const std::string& w = node.input(k);
    const Tensor& value = weight(w);
    const QParams& p = params_of(w);
    const int64_t directions = value.dim(0);
    QParams pd = per_direction(p, directions);
    Tensor scale = scale_tensor(pd), zero_point = zero_point_tensor(pd);
    if (p.per_channel()) {
      scale = scale.reshaped({directions, static_cast<int64_t>(p.scale.size())});
      zero_point = zero_point.reshaped({directions, static_cast<int64_t>(p.scale.size())});
    }
    if (!chain_.defines(w)) replaced_outer_.insert(w);
    inputs[k] = store_weight(swap_last_two(quantize_tensor(value, p)), w + "_quantized");
    params.push_back(add_initializer(scale, w + "_scale"));
    params.push_back(add_initializer(zero_point, w + "_zero_point"));
  }
  inputs.insert(inputs.end(), params.begin(), params.end());
  while (!inputs.empty() && inputs.back().empty()) inputs.pop_back();
  std::vector<std::string> outputs(node.outputs.begin(), node.outputs.end());
  const std::string base = node.name.empty() ? node.outputs[0] : node.name;
  onnx::NodeProto& op = add_node("DynamicQuantizeLSTM", names_.unique(base + "_quant"), inputs, outputs, "com.microsoft");
  for (const auto& a : proto.attribute())
    if (a.name() != "layout") *op.add_attribute() = a;
  uses_ms_domain_ = true;
}

}  // namespace ptq::rewrite
