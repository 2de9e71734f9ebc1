// SPDX-License-Identifier: Apache-2.0
// LinearLayer and LayerColumns: the columns collected from a run reproduce the node's output through
// the linear view (W_g · X_g + b = Y at the sampled positions) for a grouped, strided, padded Conv, a
// Gemm with transA/transB = 0/alpha/beta and a MatMul with a 3-D input; Conv patches against a naive
// reference; the position draw (fixed by the seed, bounded by max_columns); not-im2col'd channels.
#include "ptq/transform/layer_inputs.h"

#include <cmath>

#include "ptq/exec/executor.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::transform;

namespace {

// float32 sums over at most a few dozen products of values in [-1, 1]
constexpr float kSumTol = 1e-4f;

struct Net {
  onnx::ModelProto model;
  Graph graph;
  exec::TensorMap run(const Tensor& x, const std::string& input = "x") const {
    exec::Executor ex(graph);
    return ex.run({{input, x}});
  }
};

Net conv_net() {
  Net n;
  n.model = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[2,4,7,6] x) => (float[2,6,4,3] y) {
  y = Conv <group = 2, strides = [2, 2], pads = [1, 1, 1, 0], kernel_shape = [3, 2]> (x, w, b)
}
)");
  test::add_initializer(n.model, "w", test::random_tensor({6, 2, 3, 2}, 1));
  test::add_initializer(n.model, "b", test::random_tensor({6}, 2));
  n.graph = build_graph(n.model);
  return n;
}

// Every column of Outputs equals W_g · (the Inputs column) + b.
void expect_view_reproduces(const Net& net, const Tensor& x, size_t max_columns) {
  std::optional<LinearLayer> l = linear_layer(net.graph, 0);
  ASSERT_TRUE(l);
  const exec::TensorMap out = net.run(x, net.graph.inputs[0].name);
  ColumnOptions o;
  o.max_columns = max_columns;
  LayerColumns in(net.graph, *l, ColumnKind::Inputs, 1, o), ys(net.graph, *l, ColumnKind::Outputs, 1, o);
  in.add(0, x);
  ys.add(0, out.at(l->output));
  const std::vector<Columns> xs = in.take(), yt = ys.take();
  ASSERT_EQ(xs.size(), static_cast<size_t>(l->groups));
  const std::vector<float> w = weight_rows(*l, *net.graph.weight(l->weight)), b = bias_values(*l, net.graph);
  for (int64_t g = 0; g < l->groups; ++g) {
    const Columns& xg = xs[static_cast<size_t>(g)];
    ASSERT_EQ(xg.rows, l->depth);
    ASSERT_EQ(xg.cols, yt[static_cast<size_t>(g)].cols);
    for (int64_t p = 0; p < xg.cols; ++p)
      for (int64_t o = 0; o < l->rows; ++o) {
        const int64_t row = g * l->rows + o;
        float y = b[static_cast<size_t>(row)];
        for (int64_t k = 0; k < l->depth; ++k) y += w[static_cast<size_t>(row * l->depth + k)] * xg.at(k, p);
        EXPECT_NEAR(y, yt[static_cast<size_t>(g)].at(o, p), kSumTol)
            << "group " << g << " row " << o << " column " << p;
      }
  }
}

}  // namespace

TEST(LinearLayer, ConvColumnsReproduceTheOutput) {
  const Net net = conv_net();
  std::optional<LinearLayer> l = linear_layer(net.graph, 0);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->groups, 2);
  EXPECT_EQ(l->rows, 3);
  EXPECT_EQ(l->depth, 2 * 3 * 2);
  EXPECT_EQ(l->channel_axis(), 0);
  expect_view_reproduces(net, test::random_tensor({2, 4, 7, 6}, 3), 1000);  // every position
  expect_view_reproduces(net, test::random_tensor({2, 4, 7, 6}, 4), 5);     // a subsample
}

TEST(LinearLayer, GemmWithTransposesAlphaBeta) {
  Net net;
  net.model = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[5,3] a) => (float[3,4] y) {
  y = Gemm <transA = 1, alpha = 0.5, beta = 2.0> (a, w, c)
}
)");
  test::add_initializer(net.model, "w", test::random_tensor({5, 4}, 5));  // transB = 0: [K, N]
  test::add_initializer(net.model, "c", test::random_tensor({1, 4}, 6));
  net.graph = build_graph(net.model);
  std::optional<LinearLayer> l = linear_layer(net.graph, 0);
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->transposed);
  EXPECT_EQ(l->channel_axis(), 1);
  EXPECT_EQ(l->rows, 4);
  EXPECT_EQ(l->depth, 5);
  expect_view_reproduces(net, test::random_tensor({5, 3}, 7), 100);
  // weight_rows / weight_from_rows round trip
  const Tensor& w = *net.graph.weight("w");
  Tensor back = weight_from_rows(*l, weight_rows(*l, w), w.shape());
  for (int64_t i = 0; i < w.numel(); ++i) EXPECT_EQ(back.data<float>()[i], w.data<float>()[i]);
}

TEST(LinearLayer, MatMulWith3dInput) {
  Net net;
  net.model = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[2,3,5] a) => (float[2,3,4] y) {
  y = MatMul (a, w)
}
)");
  test::add_initializer(net.model, "w", test::random_tensor({5, 4}, 8));
  net.graph = build_graph(net.model);
  expect_view_reproduces(net, test::random_tensor({2, 3, 5}, 9), 100);
}

TEST(LinearLayer, WhatIsNotALinearLayer) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[2,3] a, float[3,3] b) => (float[2,3] y) {
  t = MatMul (a, b)
  y = Gemm (t, w, c)
}
)");
  test::add_initializer(m, "w", test::random_tensor({3, 3}, 1));
  test::add_initializer(m, "c", test::random_tensor({2, 3}, 2));  // C per row and column: not a bias
  Graph g = build_graph(m);
  std::string why;
  EXPECT_FALSE(linear_layer(g, 0, &why));
  EXPECT_NE(why.find("not a float32 constant"), std::string::npos) << why;
  EXPECT_FALSE(linear_layer(g, 1, &why));
  EXPECT_NE(why.find("C is not a constant"), std::string::npos) << why;
}

TEST(LayerColumns, ConvPatchesMatchANaiveIm2col) {
  const Net net = conv_net();
  const LinearLayer l = *linear_layer(net.graph, 0);
  const Tensor x = test::random_tensor({2, 4, 7, 6}, 10);
  LayerColumns in(net.graph, l, ColumnKind::Inputs, 1, ColumnOptions{1000, 1});
  in.add(0, x);
  const std::vector<Columns> xs = in.take();
  // Output 4x3 per image; kernel 3x2, stride 2, pads top 1 left 1 bottom 1 right 0.
  const int64_t oh = 4, ow = 3;
  ASSERT_EQ(xs[1].cols, 2 * oh * ow);
  for (int64_t p = 0; p < 2 * oh * ow; ++p) {
    const int64_t n = p / (oh * ow), y = (p / ow) % oh, xo = p % ow;
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          const int64_t iy = y * 2 - 1 + i, ix = xo * 2 - 1 + j;
          const float want =
              iy < 0 || iy >= 7 || ix < 0 || ix >= 6 ? 0.0f : x.data<float>()[((n * 4 + 2 + c) * 7 + iy) * 6 + ix];
          EXPECT_EQ(xs[1].at((c * 3 + i) * 2 + j, p), want) << "position " << p;
        }
  }
}

TEST(LayerColumns, PositionsAreSeededAndBounded) {
  const std::vector<int64_t> a = sampled_positions(1000, 10, 7, 3, 5), b = sampled_positions(1000, 10, 7, 3, 5);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), 10u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_NE(a, sampled_positions(1000, 10, 7, 3, 6));  // another sample, other positions
  EXPECT_NE(a, sampled_positions(1000, 10, 8, 3, 5));  // another seed
  EXPECT_EQ(sampled_positions(4, 10, 7, 3, 5), (std::vector<int64_t>{0, 1, 2, 3}));
  // 3 samples, max 10 columns: quota 4 each (a total above the bound by less than the sample count).
  const Net net = conv_net();
  const LinearLayer l = *linear_layer(net.graph, 0);
  LayerColumns in(net.graph, l, ColumnKind::Inputs, 3, ColumnOptions{10, 1});
  in.add(0, test::random_tensor({2, 4, 7, 6}, 11));
  in.add(2, test::random_tensor({2, 4, 7, 6}, 12));  // sample 1 never added (skipped): left out
  EXPECT_EQ(in.take()[0].cols, 8);
}

TEST(LayerColumns, ChannelsAreTheInputWithoutIm2col) {
  const Net net = conv_net();
  const LinearLayer l = *linear_layer(net.graph, 0);
  const Tensor x = test::random_tensor({2, 4, 7, 6}, 13);
  LayerColumns ch(net.graph, l, ColumnKind::Channels, 1, ColumnOptions{1000, 1});
  ch.add(0, x);
  const std::vector<Columns> cs = ch.take();
  ASSERT_EQ(cs[1].rows, 2);
  ASSERT_EQ(cs[1].cols, 2 * 7 * 6);
  for (int64_t p = 0; p < 2 * 42; ++p)
    for (int64_t c = 0; c < 2; ++c) EXPECT_EQ(cs[1].at(c, p), x.data<float>()[((p / 42) * 4 + 2 + c) * 42 + p % 42]);
}

TEST(LayerColumns, RejectsATensorThatDoesNotFit) {
  const Net net = conv_net();
  const LinearLayer l = *linear_layer(net.graph, 0);
  LayerColumns in(net.graph, l, ColumnKind::Inputs, 1);
  EXPECT_THROW(in.add(0, test::random_tensor({2, 3, 7, 6}, 1)), DataError);
}
