// SPDX-License-Identifier: Apache-2.0
// Channel equalization: the float model's outputs are unchanged (ptq's executor before vs after, rtol
// 1e-4), a Conv output read by a SiLU is written divided by s and restored by a Mul (the SiLU kept
// float), the SiLU's output reaches the next Conv through a Mul, a Conv → Conv tensor folds into both
// weights; every equalized tensor's channels span one range; the Q/DQ model keeps the restored values
// float; and a minmax 8-bit model of a network whose stem channels differ by 300x gets closer to FP32.
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
constexpr double kMinGain = 100.0;                // the stem's channels (300x apart) are far above it
constexpr double kSpreadAfter = 1.01;            // equalized: every channel reaches the top one's max|x| ...
constexpr double kScaleFloor = 1.0 / 32;         // ... or is amplified by the pass's largest factor, 32

// x → Conv W1 → c1 → SiLU (Sigmoid sg, Mul) → y → depthwise Conv W2 → c2 → Conv W3 → c3 → Relu → out.
// W1's output channels differ by up to 300x (a stem as YOLOX's), and so do c1, y and c2; W3 weighs them
// back up, so the small channels carry as much of the output as the large one.
onnx::ModelProto stem() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 17]>
stem (float[1,3,8,8] x) => (float[1,6,8,8] out) {
  c1 = Conv <pads = [1, 1, 1, 1]> (x, W1, B1)
  sg = Sigmoid (c1)
  y = Mul (c1, sg)
  c2 = Conv <group = 4, pads = [1, 1, 1, 1]> (y, W2, B2)
  c3 = Conv (c2, W3, B3)
  out = Relu (c3)
}
)");
  Tensor w1 = random_tensor({4, 3, 3, 3}, 1, -0.5f, 0.5f), b1 = random_tensor({4}, 2, -0.2f, 0.2f);
  const float row[4] = {1.0f, 0.01f, 0.0033f, 0.3f};
  for (int64_t i = 0; i < w1.numel(); ++i) w1.data<float>()[i] *= row[i / 27];
  for (int64_t i = 0; i < 4; ++i) b1.data<float>()[i] *= row[i];
  add_initializer(m, "W1", w1);
  add_initializer(m, "B1", b1);
  add_initializer(m, "W2", random_tensor({4, 1, 3, 3}, 3, 0.1f, 0.5f));
  add_initializer(m, "B2", random_tensor({4}, 4, -0.01f, 0.01f));
  Tensor w3 = random_tensor({6, 4, 1, 1}, 5, -1.0f, 1.0f);
  for (int64_t i = 0; i < w3.numel(); ++i) w3.data<float>()[i] /= row[i % 4];  // every channel matters to the output
  add_initializer(m, "W3", w3);
  add_initializer(m, "B3", random_tensor({6}, 6, -0.1f, 0.1f));
  return m;
}

std::vector<exec::TensorMap> samples(int n, uint32_t seed) { return stem_samples(n, seed); }

rewrite::EqualizeResult equalize(const onnx::ModelProto& model, double min_gain) {
  const Graph g = build_graph(model);
  MemoryReader data(samples(4, 100));
  return rewrite::equalize_channels(model, g, calib::channel_absmax(g, rewrite::equalize_inputs(g), data, quiet_calib()), min_gain);
}

// Output cosine against FP32 of the minmax 8-bit model of `model` (kept_float: the equalization's).
double quantized_cosine(const onnx::ModelProto& model, const rewrite::KeptFloat& kept) {
  rewrite::QuantOptions o;
  o.kept_float = kept;
  return output_cosine(stem(), minmax_model(model, o, samples(8, 100)), samples(4, 500), "out");
}

}  // namespace

TEST(ChannelEqualize, OutputsUnchangedOutputRestoredInputScaledConvPairFolded) {
  const onnx::ModelProto model = stem();
  const Graph g = build_graph(model);
  const auto candidates = rewrite::equalize_inputs(g);
  EXPECT_EQ(candidates, (std::map<std::string, int>{{"c1", 1}, {"c2", 1}, {"c3", 1}, {"x", 1}, {"y", 1}}));
  const rewrite::EqualizeResult r = equalize(model, kMinGain);
  EXPECT_EQ(r.outputs, 1u);  // c1
  EXPECT_EQ(r.inputs, 2u);   // y (through a Mul), c2 (folded into W2's rows and W3's columns)
  EXPECT_NE(find_node(r.model, "c1_EqualizeRestore_Mul"), nullptr);
  EXPECT_NE(find_node(r.model, "y_Equalize_Mul"), nullptr);
  EXPECT_EQ(op_counts(r.model).at("Mul"), 3);  // the SiLU's, the restoring one, y's
  EXPECT_EQ(r.kept_float.tensors, (std::set<std::string>{"c1"}));
  EXPECT_EQ(r.kept_float.nodes_writing, (std::set<std::string>{"sg", "y"}));

  for (const auto& sample : samples(3, 300)) {
    const exec::TensorMap before = run_model(model, sample), after = run_model(r.model, sample);
    const Tensor &t = before.at("out"), &u = after.at("out");
    ASSERT_EQ(t.shape(), u.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_NEAR(t.data<float>()[i], u.data<float>()[i], kAtol + kRtol * std::fabs(t.data<float>()[i])) << "out[" << i << "]";
  }
  // What the 8-bit grids will hold: c1 / s, y / s and the new c2 span one range per tensor.
  const Graph eq = build_graph(r.model);
  MemoryReader data(samples(4, 100));
  const auto before = calib::channel_absmax(g, {{"c1", 1}, {"y", 1}, {"c2", 1}}, data, quiet_calib());
  const auto after = calib::channel_absmax(eq, {{"c1_equalized", 1}, {"y_equalized", 1}, {"c2", 1}}, data, quiet_calib());
  for (const auto& [name, was] : std::map<std::string, std::string>{{"c1_equalized", "c1"}, {"y_equalized", "y"}, {"c2", "c2"}}) {
    EXPECT_GT(channel_spread(before.at(was)), 30.0) << was;
    EXPECT_LT(channel_spread(after.at(name)), kSpreadAfter * std::max(1.0, channel_spread(before.at(was)) * kScaleFloor)) << name;
  }
}

TEST(ChannelEqualize, NothingBelowTheGain) {
  const rewrite::EqualizeResult r = equalize(stem(), 1e9);
  EXPECT_EQ(r.outputs + r.inputs, 0u);
  EXPECT_EQ(serialize(r.model), serialize(stem()));
}

TEST(ChannelEqualize, QdqModelKeepsRestoredValuesFloatAndGetsCloserToFp32) {
  const rewrite::EqualizeResult r = equalize(stem(), kMinGain);
  rewrite::QuantOptions o;
  o.kept_float = r.kept_float;
  const Quantized q = quantize(r.model, o);
  // The Conv writes c1 / s through a Q/DQ pair; the restoring Mul reads its DQ; c1 and the SiLU stay float.
  const onnx::NodeProto* restore = find_node(q.model, "c1_EqualizeRestore_Mul");
  ASSERT_NE(restore, nullptr);
  EXPECT_EQ(producer_of(q.model, restore->input(0))->op_type(), "DequantizeLinear");
  EXPECT_EQ(producer_of(q.model, restore->input(1)), nullptr);  // s stays a float initializer
  EXPECT_EQ(find_node(q.model, "c1_QuantizeLinear"), nullptr);
  EXPECT_EQ(producer_of(q.model, "sg")->input(0), "c1");
  EXPECT_NE(find_node(q.model, "y_equalized_QuantizeLinear"), nullptr);  // what the depthwise Conv reads
  EXPECT_EQ(find_node(q.model, "y_QuantizeLinear"), nullptr);

  const double plain = quantized_cosine(stem(), {}), equalized = quantized_cosine(r.model, r.kept_float);
  EXPECT_GT(equalized, plain);
  EXPECT_GT(1.0 - plain, 2.0 * (1.0 - equalized)) << "plain " << plain << ", equalized " << equalized;
}
