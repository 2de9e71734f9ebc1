// SPDX-License-Identifier: Apache-2.0
#include "ptq/exec/executor.h"

#include "testutil.h"

using namespace ptq;
using exec::Executor;

namespace {
Graph graph_of(const std::string& text) { return build_graph(test::parse_text_model(text)); }
}  // namespace

TEST(Executor, RunsAndTapsEveryNodeOutput) {
  Graph g = graph_of(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,3] x, float[3] b) => (float[2,3] y) {
  s = Add(x, b)
  r = Relu(s)
  y = Mul(r, r)
}
)");
  Executor ex(g);
  exec::TensorMap in;
  in["x"] = Tensor::from_vector<float>({-1, 2, -3, 4, -5, 6}, {2, 3});
  in["b"] = Tensor::from_vector<float>({1, 1, 1}, {3});
  std::vector<std::string> seen;
  exec::Tap tap = [&](const std::string& name, const Tensor&) { seen.push_back(name); };
  exec::RunOptions ro;
  ro.tap = &tap;
  ro.fetch = {"s"};
  auto out = ex.run(in, ro);
  EXPECT_EQ(out.at("y").to_vector<float>(), (std::vector<float>{0, 9, 0, 25, 0, 49}));
  EXPECT_EQ(out.at("s").to_vector<float>(), (std::vector<float>{0, 3, -2, 5, -4, 7}));
  EXPECT_EQ(seen, (std::vector<std::string>{"s", "r", "y"}));
}

TEST(Executor, ReportsEveryUnsupportedNodeBeforeRunning) {
  Graph g = graph_of(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] x) => (float[2] y) {
  a = FancyOp(x)
  y = OtherOp(a)
}
)");
  try {
    Executor ex(g);
    FAIL();
  } catch (const UnsupportedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("2 unsupported nodes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(FancyOp, opset 13)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(OtherOp, opset 13)"), std::string::npos) << msg;
  }
}

TEST(Executor, InputMismatchNamesTheInput) {
  Graph g = graph_of(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[N,3] x) => (float[N,3] y) {
  y = Relu(x)
}
)");
  Executor ex(g);
  auto expect_msg = [&](exec::TensorMap in, const std::string& fragment) {
    try {
      ex.run(in);
      FAIL() << fragment;
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_msg({{"x", Tensor::zeros(DType::Float32, {2, 4})}}, "input 'x': expected shape [N,3], got [2,4]");
  expect_msg({{"x", Tensor::zeros(DType::Int64, {2, 3})}}, "input 'x': expected dtype float32, got int64");
  expect_msg({}, "missing input 'x'");
  expect_msg({{"x", Tensor::zeros(DType::Float32, {1, 3})}, {"z", Tensor::zeros(DType::Float32, {1})}}, "unknown input 'z'");
  EXPECT_EQ(ex.run({{"x", Tensor::zeros(DType::Float32, {5, 3})}}).at("y").shape(), (Shape{5, 3}));
}

TEST(Executor, BroadcastingMatchesNaiveLoops) {
  Graph g = graph_of(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2,3,4,5] a, float[3,1,1] b) => (float[2,3,4,5] y) {
  y = Sub(a, b)
}
)");
  Executor ex(g);
  Tensor a = test::random_tensor({2, 3, 4, 5}, 11), b = test::random_tensor({3, 1, 1}, 12);
  Tensor y = ex.run({{"a", a}, {"b", b}}).at("y");
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* py = y.data<float>();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 20; ++i) {
        int idx = (n * 3 + c) * 20 + i;
        ASSERT_EQ(py[idx], pa[idx] - pb[c]) << idx;
      }
}

TEST(Executor, RunNodeOnGivenInputs) {
  Graph g = graph_of(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] x, float[2] w) => (float[2] y) {
  y = Mul(x, w)
}
)");
  Executor ex(g);
  Tensor x = Tensor::from_vector<float>({2, 3}, {2}), w = Tensor::from_vector<float>({4, 5}, {2});
  auto out = ex.run_node(0, {&x, &w});
  EXPECT_EQ(out[0].to_vector<float>(), (std::vector<float>{8, 15}));
}
