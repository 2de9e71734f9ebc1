// SPDX-License-Identifier: Apache-2.0
// Gelu (opset 20; ONNX 1.12's node tests predate it): both forms against double-precision references
// computed here, x/2 · (1 + erf(x/√2)) and x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³))).
#include <cmath>

#include "ptq/exec/executor.h"
#include "testutil.h"

using namespace ptq;

namespace {

constexpr double kGeluTol = 2e-6;  // absolute, plus kGeluRel relative: float evaluation of the same formula
constexpr double kGeluRel = 1e-6;

Tensor gelu(const std::string& form, const Tensor& x) {
  Graph g = build_graph(test::parse_text_model("<ir_version: 9, opset_import: [\"\" : 20]>\ng (float[N] x) => (float[N] y) {\n"
                                               "  y = Gelu <approximate = \"" + form + "\"> (x)\n}\n"));
  return exec::Executor(g, exec::ExecOptions{1, false}).run({{"x", x}}).at("y");
}

}  // namespace

TEST(Gelu, BothFormsMatchTheirDefinitions) {
  std::vector<float> xs;
  for (float v = -9.0f; v <= 9.0f; v += 0.0173f) xs.push_back(v);
  const Tensor x = Tensor::from_vector<float>(xs, {static_cast<int64_t>(xs.size())});
  const Tensor exact = gelu("none", x), tanh_form = gelu("tanh", x);
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i];
    const double want_exact = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    const double want_tanh = 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    ASSERT_NEAR(exact.data<float>()[i], want_exact, kGeluTol + kGeluRel * std::fabs(want_exact)) << "x = " << v;
    ASSERT_NEAR(tanh_form.data<float>()[i], want_tanh, kGeluTol + kGeluRel * std::fabs(want_tanh)) << "x = " << v;
  }
  EXPECT_GT(std::fabs(exact.data<float>()[578] - tanh_form.data<float>()[578]), 1e-5f);  // x ≈ 1: the forms differ
}

TEST(Gelu, UnknownApproximationIsRejected) {
  EXPECT_FALSE(exec::find_unsupported_nodes(build_graph(test::parse_text_model(
                   "<ir_version: 9, opset_import: [\"\" : 20]>\ng (float[N] x) => (float[N] y) {\n  y = Gelu <approximate = \"fast\"> (x)\n}\n")))
                   .empty());
}
