// SPDX-License-Identifier: Apache-2.0
// Models of odd_models.h.
#include "odd_models.h"

#include <cctype>
#include <cstdio>

#include "ptq/ir/npy.h"
#include "testutil.h"

namespace fs = std::filesystem;

namespace ptq::test {
namespace {

std::string header(int64_t ir_version, int64_t opset) {
  return "<ir_version: " + std::to_string(ir_version) + ", opset_import: [\"\" : " + std::to_string(opset) + "]>\n";
}

std::string typed(const std::string& name, const std::string& dims) { return "float" + (dims.empty() ? "" : "[" + dims + "]") + " " + name; }

void add_conv_weights(onnx::ModelProto& m, int64_t in_channels) {
  add_initializer(m, "w1", random_tensor({4, in_channels, 3, 3}, 1, -0.5f, 0.5f));
  add_initializer(m, "b1", random_tensor({4}, 2, -0.1f, 0.1f));
  add_initializer(m, "w2", random_tensor({5, 4}, 3));
  add_initializer(m, "b2", random_tensor({5}, 4, -0.1f, 0.1f));
}

// Channel statistics of a BatchNormalization over `c` channels: scale s, bias bb, mean mu, variance var.
void add_bn_params(onnx::ModelProto& m, int64_t c) {
  add_initializer(m, "s", random_tensor({c}, 11, 0.5f, 1.5f));
  add_initializer(m, "bb", random_tensor({c}, 12, -0.2f, 0.2f));
  add_initializer(m, "mu", random_tensor({c}, 13, -0.2f, 0.2f));
  add_initializer(m, "var", random_tensor({c}, 14, 0.5f, 1.5f));
}

}  // namespace

onnx::ModelProto small_cnn(const std::string& x_dims, const std::string& y_dims, int64_t ir_version, int64_t opset) {
  onnx::ModelProto m = parse_text_model(header(ir_version, opset) + "cnn (" + typed("x", x_dims) + ") => (" + typed("y", y_dims) +
                                        ") {\n"
                                        "  c1 = Conv <pads = [1,1,1,1]> (x, w1, b1)\n  r1 = Relu(c1)\n  p = GlobalAveragePool(r1)\n"
                                        "  f = Flatten(p)\n  y = Gemm <transB = 1> (f, w2, b2)\n}\n");
  const char* names[] = {"conv1", "relu1", "gap", "flat", "fc"};
  for (int i = 0; i < m.graph().node_size(); ++i) m.mutable_graph()->mutable_node(i)->set_name(names[i]);
  if (y_dims.empty()) m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  add_conv_weights(m, 3);
  return m;
}

onnx::ModelProto ir3_cnn() {
  onnx::ModelProto m = small_cnn("N,3,10,12", "", 3, 8);
  for (const auto& t : std::vector<onnx::TensorProto>(m.graph().initializer().begin(), m.graph().initializer().end())) {
    auto& type = *m.mutable_graph()->add_input()->mutable_type()->mutable_tensor_type();
    m.mutable_graph()->mutable_input(m.graph().input_size() - 1)->set_name(t.name());
    type.set_elem_type(t.data_type());
    for (auto d : t.dims()) type.mutable_shape()->add_dim()->set_dim_value(d);
  }
  return m;
}

onnx::ModelProto small_mlp(const std::string& x_dims, const std::string& y_dims) {
  onnx::ModelProto m = parse_text_model(header(7, 13) + "mlp (" + typed("x", x_dims) + ") => (" + typed("y", y_dims) +
                                        ") {\n"
                                        "  m1 = MatMul(x, w1)\n  a1 = Add(m1, b1)\n  r1 = Relu(a1)\n  m2 = MatMul(r1, w2)\n"
                                        "  y = Softmax <axis = -1> (m2)\n}\n");
  add_initializer(m, "w1", random_tensor({6, 16}, 21, -0.5f, 0.5f));
  add_initializer(m, "b1", random_tensor({16}, 22, -0.1f, 0.1f));
  add_initializer(m, "w2", random_tensor({16, 4}, 23, -0.5f, 0.5f));
  return m;
}

onnx::ModelProto old_opset_cnn(int64_t opset, const std::string& mode) {
  const std::string bn = opset < 9 ? "BatchNormalization <spatial = 1>" : "BatchNormalization";
  const std::string up = "Upsample <mode = \"" + mode + "\"" + (opset < 9 ? ", scales = [1.0, 1.0, 2.0, 2.0]> (r1)" : "> (r1, scales)");
  onnx::ModelProto m = parse_text_model(header(3, opset) +
                                        "old (float[1,3,8,8] x) => (float[1,5] y) {\n"
                                        "  n = " + bn + " (x, s, bb, mu, var)\n"
                                        "  c1 = Conv <pads = [1,1,1,1]> (n, w1, b1)\n  r1 = Relu(c1)\n"
                                        "  u = " + up + "\n"
                                        "  d = Dropout <ratio = 0.2> (u)\n  p = GlobalAveragePool(d)\n  f = Flatten(p)\n"
                                        "  y = Gemm <transB = 1> (f, w2, b2)\n}\n");
  add_bn_params(m, 3);
  add_conv_weights(m, 3);
  if (opset >= 9) add_initializer(m, "scales", Tensor::from_vector<float>({1.0f, 1.0f, 2.0f, 2.0f}, {4}));
  return m;
}

onnx::ModelProto training_bn_cnn() {
  onnx::ModelProto m = parse_text_model(header(8, 15) +
                                        "train (float[N,3,8,8] x) => (float[N,4,8,8] y, float[4] rm) {\n"
                                        "  c1 = Conv <pads = [1,1,1,1]> (x, w1, b1)\n"
                                        "  bn, rm, rv = BatchNormalization <training_mode = 1> (c1, s, bb, mu, var)\n"
                                        "  y = Relu(bn)\n}\n");
  m.mutable_graph()->mutable_node(1)->set_name("bn1");
  add_conv_weights(m, 3);
  add_bn_params(m, 4);
  return m;
}

onnx::ModelProto custom_domain_mlp() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 7, opset_import: ["" : 13, "com.microsoft" : 1]>
g (float[2,4] x) => (float y) {
  h = MatMul(x, w)
  s = com.microsoft.DequantizeLinear (q8, sc, zp)
  y = Add (h, s)
}
)");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  add_initializer(m, "w", random_tensor({4, 3}, 61));
  add_initializer(m, "q8", Tensor::from_vector<int8_t>({10, -20, 30}, {3}));
  add_initializer(m, "sc", Tensor::scalar<float>(0.01f));
  add_initializer(m, "zp", Tensor::scalar<int8_t>(0));
  return m;
}

void set_value_info(onnx::ModelProto& model, const std::string& name, int elem_type, const std::vector<std::string>& dims) {
  onnx::ValueInfoProto* vi = nullptr;
  for (auto* list : {model.mutable_graph()->mutable_value_info(), model.mutable_graph()->mutable_output()})
    for (auto& v : *list)
      if (v.name() == name) vi = &v;
  if (!vi) vi = model.mutable_graph()->add_value_info();
  vi->set_name(name);
  auto& t = *vi->mutable_type()->mutable_tensor_type();
  t.set_elem_type(elem_type);
  t.clear_shape();
  auto& shape = *t.mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape.add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else dim->set_dim_param(d);
  }
}

void write_samples(const fs::path& dir, const std::string& input, const Shape& shape, int count, uint32_t seed) {
  for (int i = 0; i < count; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "%03d", i);
    fs::create_directories(dir / name);
    write_npy(dir / name / (input + ".npy"), random_tensor(shape, seed + static_cast<uint32_t>(i)));
  }
}

}  // namespace ptq::test
