// SPDX-License-Identifier: Apache-2.0
// com.microsoft DynamicQuantizeLSTM (ONNX Runtime contrib op, what `--dynamic-format integer` writes for
// an LSTM): LSTM's inputs 0-7 and attributes, with
//   W [num_directions, input_size, 4·hidden], R [num_directions, hidden, 4·hidden]: int8 or uint8,
//   W_scale, W_zero_point, R_scale, R_zero_point (inputs 8-11): [num_directions] per tensor or
//   [num_directions, 4·hidden] per gate row.
// Runs as the LSTM (rnn.cpp) on the dequantized weights, w[d, n, k] = (q[d, k, n] − zp[d, n]) · s[d, n]:
// what the quantized weights mean. ONNX Runtime's kernel also quantizes X and the hidden state to
// uint8 at every step, so its outputs differ from these by that rounding.
#include "kernels.h"

namespace ptq::exec {
namespace {

// q [D, K, N] (int8/uint8), scale/zero point [D] or [D, N] → float [D, N, K].
Tensor dequantize_transposed(const Tensor& q, const Tensor& scale, const Tensor& zero_point, const char* name) {
  if (q.rank() != 3 || (q.dtype() != DType::Int8 && q.dtype() != DType::UInt8))
    PTQ_FAIL(ModelError, name, " must be a 3-D int8/uint8 tensor, got ", dtype_name(q.dtype()), " ", shape_str(q.shape()));
  const int64_t D = q.dim(0), K = q.dim(1), N = q.dim(2);
  const bool per_row = scale.numel() == D * N;
  if (!per_row && scale.numel() != D) PTQ_FAIL(ModelError, name, "'s scale has ", scale.numel(), " values, expected ", D, " or ", D * N);
  if (zero_point.numel() != scale.numel() || zero_point.dtype() != q.dtype())
    PTQ_FAIL(ModelError, name, "'s zero point must match its scale's shape and the weight's type");
  const Tensor s = cast_tensor(scale, DType::Float32), z = cast_tensor(zero_point, DType::Int32), v = cast_tensor(q, DType::Int32);
  const float* ps = s.data<float>();
  const int32_t *pz = z.data<int32_t>(), *pv = v.data<int32_t>();
  Tensor out(DType::Float32, {D, N, K});
  float* po = out.data<float>();
  for (int64_t d = 0; d < D; ++d)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        const int64_t c = per_row ? d * N + n : d;
        po[(d * N + n) * K + k] = static_cast<float>(pv[(d * K + k) * N + n] - pz[c]) * ps[c];
      }
  return out;
}

}  // namespace

Kernel make_dynamic_quantize_lstm(const Node& node) {
  expect_inputs(node, 12, 12);
  Node lstm_node = node;
  lstm_node.inputs.resize(8);
  while (!lstm_node.inputs.empty() && lstm_node.inputs.back().empty()) lstm_node.inputs.pop_back();
  Kernel lstm = make_lstm(lstm_node);
  return [lstm](KernelIO& io) {
    const Tensor w = dequantize_transposed(io.in(1), io.in(8), io.in(9), "W");
    const Tensor r = dequantize_transposed(io.in(2), io.in(10), io.in(11), "R");
    KernelIO inner;
    inner.inputs.assign(io.inputs.begin(), io.inputs.begin() + 8);
    inner.inputs[1] = &w;
    inner.inputs[2] = &r;
    inner.outputs.assign(io.outputs.size(), Tensor());
    inner.scope = io.scope;
    inner.threads = io.threads;
    lstm(inner);
    io.outputs = std::move(inner.outputs);
  };
}

}  // namespace ptq::exec
