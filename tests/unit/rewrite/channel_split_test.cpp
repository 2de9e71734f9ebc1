// SPDX-License-Identifier: Apache-2.0
// Channel splitting: a stem Conv whose output channels differ by 300x, read through a SiLU by a
// depthwise Conv, becomes one chain per channel group (the groups worked out by hand below); the float
// model's outputs are unchanged (ptq's executor before vs after); each group's tensors span a range
// within the pass's group ratio; the Concat + Gather put the channels back in order; the 8-bit model
// gets closer to FP32 with every convolution still quantized; tensors read outside a chain, and gains
// below the threshold, are left alone.
#include <algorithm>
#include <cmath>

#include "ptq/calib/calibrator.h"
#include "ptq/exec/executor.h"
#include "ptq/rewrite/passes.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;

namespace {

constexpr float kRtol = 1e-5f, kAtol = 1e-6f;  // the same sums, computed on fewer channels per Conv
constexpr double kMinGain = 100.0;             // the stem's gain is far above it (channels 300x apart)
constexpr double kGroupRatio = 8.0;            // the pass's largest max|x| ratio within a group
// depthwise_stem's channels (kStemRows) sorted: 1, 0.3 | 0.01, 0.0033 — two groups at ratio 8: {0, 3}
// and {1, 2}; concatenated as [0, 3, 1, 2], so the Gather's indices are [0, 2, 3, 1].
onnx::ModelProto stem(bool extra_reader = false) { return depthwise_stem(extra_reader); }
std::vector<exec::TensorMap> samples(int n, uint32_t seed) { return stem_samples(n, seed); }

rewrite::SplitResult split(const onnx::ModelProto& model, double min_gain) {
  const Graph g = build_graph(model);
  MemoryReader data(samples(4, 100));
  return rewrite::split_channels(model, g, calib::channel_absmax(g, rewrite::split_inputs(g), data, quiet_calib()),
                                 min_gain);
}

// Output cosine against FP32 of the minmax 8-bit model of `model`.
double quantized_cosine(const onnx::ModelProto& model) {
  return output_cosine(stem(), minmax_model(model, {}, samples(8, 100)), samples(4, 500), "out");
}

}  // namespace

TEST(ChannelSplit, StemSplitIntoGroupsOutputsUnchanged) {
  const onnx::ModelProto model = stem();
  EXPECT_EQ(rewrite::split_inputs(build_graph(model)), (std::map<std::string, int>{{"c1", 1}}));
  const rewrite::SplitResult r = split(model, kMinGain);
  EXPECT_EQ(r.convs, 1u);
  EXPECT_EQ(r.groups, 2u);
  const auto ops = op_counts(r.model);
  EXPECT_EQ(ops.at("Conv"), 5);  // two stems, two depthwise, the last Conv
  EXPECT_EQ(ops.at("Sigmoid"), 2);
  EXPECT_EQ(ops.at("Mul"), 2);
  EXPECT_EQ(ops.at("Relu"), 2);
  EXPECT_EQ(ops.at("Concat"), 1);
  EXPECT_EQ(ops.at("Gather"), 1);
  // The Gather writes r again, from the concatenated groups, in channel order.
  const onnx::NodeProto* gather = producer_of(r.model, "r");
  ASSERT_NE(gather, nullptr);
  EXPECT_EQ(gather->op_type(), "Gather");
  const Graph g = build_graph(r.model);
  const Tensor* order = g.weight(gather->input(1));
  ASSERT_NE(order, nullptr);
  EXPECT_EQ(std::vector<int64_t>(order->data<int64_t>(), order->data<int64_t>() + 4),
            (std::vector<int64_t>{0, 2, 3, 1}));
  // Group 0 takes channels {0, 3}: its stem's weight rows are W1's rows 0 and 3; its depthwise Conv has group 2.
  const onnx::NodeProto* dw0 = producer_of(r.model, "c2_split0");
  ASSERT_NE(dw0, nullptr);
  EXPECT_EQ(g.nodes[static_cast<size_t>(g.producer("c2_split0"))].attr_int("group", 1), 2);
  const Graph before_split = build_graph(model);
  const Tensor& w1 = *before_split.weight("W1");
  const Tensor& w1_0 = *g.weight(producer_of(r.model, "c1_split0")->input(1));
  ASSERT_EQ(w1_0.shape(), (Shape{2, 3, 3, 3}));
  for (int64_t i = 0; i < 27; ++i) {
    EXPECT_EQ(w1_0.data<float>()[i], w1.data<float>()[i]);
    EXPECT_EQ(w1_0.data<float>()[27 + i], w1.data<float>()[3 * 27 + i]);
  }
  EXPECT_EQ(g.weight("W1"), nullptr);  // the split weights replace the old ones

  for (const auto& sample : samples(3, 300)) {
    const Tensor t = run_model(model, sample).at("out"), u = run_model(r.model, sample).at("out");
    ASSERT_EQ(t.shape(), u.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      ASSERT_NEAR(t.data<float>()[i], u.data<float>()[i], kAtol + kRtol * std::fabs(t.data<float>()[i]))
          << "out[" << i << "]";
  }
  // What the 8-bit grids will hold: one range per group where c1 and y spanned 300x.
  MemoryReader data(samples(4, 100));
  const auto before = calib::channel_absmax(build_graph(model), {{"c1", 1}, {"y", 1}}, data, quiet_calib());
  EXPECT_GT(channel_spread(before.at("c1")), 30.0);
  const auto after = calib::channel_absmax(g, {{"c1_split0", 1}, {"c1_split1", 1}, {"y_split0", 1}, {"y_split1", 1}},
                                           data, quiet_calib());
  for (const auto& [name, a] : after) EXPECT_LT(channel_spread(a), kGroupRatio) << name;
}

TEST(ChannelSplit, QuantizedModelKeepsEveryConvIntegerAndGetsCloserToFp32) {
  const rewrite::SplitResult r = split(stem(), kMinGain);
  const onnx::ModelProto q = minmax_model(r.model, {}, samples(8, 100));
  int convs = 0;
  for (const auto& n : q.graph().node())
    if (n.op_type() == "Conv") {
      ++convs;
      EXPECT_EQ(producer_of(q, n.input(0))->op_type(), "DequantizeLinear") << n.name();
      EXPECT_EQ(producer_of(q, n.input(1))->op_type(), "DequantizeLinear") << n.name();
    }
  EXPECT_EQ(convs, 5);
  const double plain = quantized_cosine(stem()), splitted = quantized_cosine(r.model);
  EXPECT_GT(1.0 - plain, 10.0 * (1.0 - splitted)) << "plain " << plain << ", split " << splitted;
}

TEST(ChannelSplit, NothingBelowTheGainOrWhenTheChainIsReadOutside) {
  rewrite::SplitResult r = split(stem(), 1e9);
  EXPECT_EQ(r.convs, 0u);
  EXPECT_EQ(serialize(r.model), serialize(stem()));
  const onnx::ModelProto shared = stem(true);  // c1 is a graph output too
  EXPECT_TRUE(rewrite::split_inputs(build_graph(shared)).empty());
  r = split(shared, kMinGain);
  EXPECT_EQ(r.convs, 0u);
}
