// SPDX-License-Identifier: Apache-2.0
#include "interop_models.h"

#include <cmath>
#include <random>

#include "testutil.h"

namespace ptq::test {
namespace {

// Uniform weights in ±sqrt(3 / fan_in) (unit variance through a layer), fan_in = numel / dim 0
// (or dim 1 for MatMul-style [K, N] weights, where fan_in = K).
void add_weight(onnx::ModelProto& m, const std::string& name, Shape shape, uint32_t seed, int64_t fan_in) {
  float a = std::sqrt(3.0f / static_cast<float>(fan_in));
  add_initializer(m, name, random_tensor(std::move(shape), seed, -a, a));
}

onnx::ModelProto with_opset(onnx::ModelProto m, int opset) {
  m.mutable_opset_import(0)->set_version(opset);
  return m;
}

}  // namespace

onnx::ModelProto conv_net(int opset) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 7, opset_import: ["" : 13]>
conv_net (float[N,3,16,16] x) => (float[N,10] logits) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, W1, B1)
  r1 = Relu (c1)
  p1 = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (r1)
  c2 = Conv <pads = [1, 1, 1, 1]> (p1, W2, B2)
  r2 = Clip (c2, lo, hi)
  a = Add (r2, p1)
  c3 = Conv (a, W3, B3)
  r3 = Relu (c3)
  g = GlobalAveragePool (r3)
  f = Flatten (g)
  logits = Gemm <transB = 1> (f, G, C)
}
)");
  add_weight(m, "W1", {8, 3, 3, 3}, 101, 27);
  add_initializer(m, "B1", random_tensor({8}, 102, -0.1f, 0.1f));
  add_weight(m, "W2", {8, 8, 3, 3}, 103, 72);
  add_initializer(m, "B2", random_tensor({8}, 104, -0.1f, 0.1f));
  add_weight(m, "W3", {16, 8, 1, 1}, 105, 8);
  add_initializer(m, "B3", random_tensor({16}, 106, -0.1f, 0.1f));
  add_weight(m, "G", {10, 16}, 107, 16);
  add_initializer(m, "C", random_tensor({10}, 108, -0.1f, 0.1f));
  add_initializer(m, "lo", Tensor::scalar<float>(0.0f));
  add_initializer(m, "hi", Tensor::scalar<float>(6.0f));
  const char* names[] = {"conv1", "relu1", "pool1", "conv2", "clip2", "add2", "conv3", "relu3", "gap", "flatten", "fc"};
  for (int i = 0; i < m.graph().node_size(); ++i) m.mutable_graph()->mutable_node(i)->set_name(names[i]);
  return with_opset(m, opset);
}

onnx::ModelProto mlp_net(int opset) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 7, opset_import: ["" : 13]>
mlp_net (float[N,6,16] x) => (float[N,10] y) {
  h = MatMul (x, W1)
  hb = Add (h, b1)
  l = LeakyRelu <alpha = 0.1> (hb)
  s = Sigmoid (hb)
  silu = Mul (hb, s)
  cat = Concat <axis = 2> (l, silu)
  t = Transpose <perm = [0, 2, 1]> (cat)
  v = Reshape (t, shape)
  z = Gemm (v, W2, b2)
  y = Softmax <axis = 1> (z)
}
)");
  add_weight(m, "W1", {16, 32}, 201, 16);
  add_initializer(m, "b1", random_tensor({32}, 202, -0.1f, 0.1f));
  add_initializer(m, "shape", Tensor::from_vector<int64_t>({-1, 384}, {2}));
  add_weight(m, "W2", {384, 10}, 203, 384);
  add_initializer(m, "b2", random_tensor({10}, 204, -0.1f, 0.1f));
  return with_opset(m, opset);
}

onnx::ModelProto embedding_net(int opset) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 7, opset_import: ["" : 13]>
embedding_net (int64[N,5] ids) => (float[N,5,8] y) {
  e = Gather (E, ids)
  y = MatMul (e, W)
}
)");
  add_initializer(m, "E", random_tensor({50, 16}, 301));
  add_weight(m, "W", {16, 8}, 302, 16);
  return with_opset(m, opset);
}

exec::TensorMap make_inputs(const onnx::ModelProto& model, int64_t n, uint32_t seed) {
  exec::TensorMap inputs;
  for (const auto& in : model.graph().input()) {
    Shape shape;
    for (const auto& d : in.type().tensor_type().shape().dim()) shape.push_back(d.has_dim_value() ? d.dim_value() : n);
    if (in.type().tensor_type().elem_type() == onnx::TensorProto::INT64) {
      Tensor t(DType::Int64, shape);
      std::mt19937 rng(seed);
      for (int64_t i = 0; i < t.numel(); ++i) t.data<int64_t>()[i] = static_cast<int64_t>(rng() % 50);
      inputs[in.name()] = t;
    } else {
      inputs[in.name()] = random_tensor(shape, seed);
    }
  }
  return inputs;
}

}  // namespace ptq::test
