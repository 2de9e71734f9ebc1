// SPDX-License-Identifier: Apache-2.0
// SmoothQuant: the float model's outputs are unchanged (ptq's executor before vs after, rtol 1e-4), the
// scale folds where it can (LayerNorm γ/β, the Erf-GELU's constant Mul, MatMul+Add) and goes through a Mul
// elsewhere, and the activations' outlier channels shrink (max/min of the per-channel max|x|).
#include <algorithm>
#include <cmath>

#include "ptq/calib/calibrator.h"
#include "ptq/exec/executor.h"
#include "ptq/rewrite/passes.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;

namespace {

constexpr float kRtol = 1e-4f, kAtol = 1e-5f;  // s and 1/s reorder float arithmetic
constexpr float kAlpha = 0.5f;

// x → LN → a ─┬→ MatMul W1 → Add b1 → h → Erf-GELU → g → MatMul W2 → y1
//             └→ MatMul Wq → y2                   (a: two readers, one scale, folded into the LN)
// x → Relu → e → MatMul W3 → y3                    (no foldable producer: a Mul is inserted)
// h = MatMul + Add: fc2's scale folds into the GELU's Mul; b1/W1 columns are not touched by it.
onnx::ModelProto block() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
blk (float[2,5,8] x) => (float[2,5,8] y1, float[2,5,4] y2, float[2,5,4] y3) {
  a = LayerNormalization <axis = -1> (x, G, B)
  m1 = MatMul (a, W1)
  h = Add (m1, b1)
  u = Div (h, sqrt2)
  e1 = Erf (u)
  a1 = Add (e1, one)
  p = Mul (h, a1)
  g = Mul (p, half)
  y1 = MatMul (g, W2)
  y2 = MatMul (a, Wq)
  e = Relu (x)
  y3 = MatMul (e, W3)
}
)");
  Tensor gamma = random_tensor({8}, 1, 0.5f, 1.5f);
  gamma.data<float>()[2] = 25.0f;  // an outlier channel, as trained LayerNorms grow
  add_initializer(m, "G", gamma);
  add_initializer(m, "B", random_tensor({8}, 2));
  add_initializer(m, "W1", random_tensor({8, 16}, 3, -0.3f, 0.3f));
  add_initializer(m, "b1", random_tensor({16}, 4));
  add_initializer(m, "W2", random_tensor({16, 8}, 5, -0.3f, 0.3f));
  add_initializer(m, "Wq", random_tensor({8, 4}, 6, -0.3f, 0.3f));
  add_initializer(m, "W3", random_tensor({8, 4}, 7, -0.3f, 0.3f));
  add_initializer(m, "sqrt2", Tensor::from_vector<float>({1.4142135f}, {}));
  add_initializer(m, "one", Tensor::from_vector<float>({1.0f}, {}));
  add_initializer(m, "half", Tensor::from_vector<float>({0.5f}, {}));
  return m;
}

std::vector<exec::TensorMap> samples(int n) {
  std::vector<exec::TensorMap> s;
  for (int i = 0; i < n; ++i) {
    Tensor x = random_tensor({2, 5, 8}, 100 + static_cast<uint32_t>(i), -2.0f, 2.0f);
    for (int64_t k = 5; k < x.numel(); k += 8) x.data<float>()[k] *= 20.0f;  // outlier input channel 5
    s.push_back({{"x", x}});
  }
  return s;
}

calib::CalibOptions quiet() {
  calib::CalibOptions o;
  o.progress = false;
  o.threads = 1;
  return o;
}

// max/min over channels of the per-channel max|x|.
double spread(const std::vector<double>& absmax) {
  return *std::max_element(absmax.begin(), absmax.end()) / *std::min_element(absmax.begin(), absmax.end());
}

}  // namespace

TEST(SmoothQuant, OutputsUnchangedScalesFoldedOrInsertedOutliersShrink) {
  const onnx::ModelProto model = block();
  const Graph g = build_graph(model);
  MemoryReader data(samples(4));
  const auto inputs = rewrite::smooth_quant_inputs(g);
  EXPECT_EQ(inputs.size(), 3u);  // a, g, e
  const auto absmax = calib::channel_absmax(g, inputs, data, quiet());
  rewrite::SmoothQuantResult r = rewrite::smooth_quant(model, g, absmax, kAlpha);
  EXPECT_EQ(r.smoothed, 3u);
  EXPECT_EQ(r.folded, 2u);
  EXPECT_EQ(r.inserted, 1u);
  EXPECT_NE(find_node(r.model, "e_SmoothQuant_Mul"), nullptr);

  const Graph smoothed = build_graph(r.model);
  exec::ExecOptions one;
  one.threads = 1;
  for (const auto& sample : samples(3)) {
    exec::TensorMap before = exec::Executor(g, one).run(sample), after = exec::Executor(smoothed, one).run(sample);
    for (const auto& [name, t] : before) {
      const Tensor& u = after.at(name);
      ASSERT_EQ(t.shape(), u.shape()) << name;
      for (int64_t i = 0; i < t.numel(); ++i)
        ASSERT_NEAR(t.data<float>()[i], u.data<float>()[i], kAtol + kRtol * std::fabs(t.data<float>()[i])) << name << "[" << i << "]";
    }
  }
  // What the MatMuls read now: a (LN output, smoothed in place), g (GELU output), e_smoothed (Mul output).
  const auto after = calib::channel_absmax(smoothed, {{"a", -1}, {"g", -1}, {"e_smoothed", -1}}, data, quiet());
  EXPECT_LT(spread(after.at("a")), spread(absmax.at("a")) / 2);
  EXPECT_LT(spread(after.at("e_smoothed")), spread(absmax.at("e")) / 2);
  EXPECT_LT(spread(after.at("g")), spread(absmax.at("g")));
}

TEST(SmoothQuant, AlphaOutsideTheUnitIntervalIsAUsageError) {
  const onnx::ModelProto model = block();
  const Graph g = build_graph(model);
  EXPECT_NE(error_of([&] { rewrite::smooth_quant(model, g, {}, 1.5f); }).find("alpha"), std::string::npos);
}
