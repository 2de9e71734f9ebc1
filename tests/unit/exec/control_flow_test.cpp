// SPDX-License-Identifier: Apache-2.0
// If and Loop: branch selection, outer-scope values, subgraph Constant weights, loop-carried values,
// scan outputs, while-loop termination, and the tap seeing values computed inside subgraphs under
// scoped names.
#include <map>

#include "ptq/exec/executor.h"
#include "testutil.h"

using namespace ptq;

namespace {

Graph graph_of(const std::string& text) { return build_graph(test::parse_text_model(text)); }

const char* kIfModel = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[2] x) => (float[2] y) {
  d = Mul(x, x)
  y = If (c) <then_branch = then_g () => (float[2] t) {
      k = Constant <value = float[2] {10.0, 20.0}> ()
      t = Add(d, k)
    }, else_branch = else_g () => (float[2] e) {
      e = Neg(d)
    }>
}
)";

// Loop body: s' = s + (i + 1); scan output s'; cond' = s' < limit (limit from the outer scope).
const char* kLoopModel = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (int64 m, bool c, float s0, float limit) => (float s, float[N] sums) {
  s, sums = Loop (m, c, s0) <body = body_g (int64 i, bool cin, float sin) => (bool cout, float sout, float scan) {
      one = Constant <value = float {1.0}> ()
      fi = Cast <to = 1> (i)
      inc = Add(fi, one)
      sout = Add(sin, inc)
      cout = Less(sout, limit)
      scan = Identity(sout)
    }>
}
)";

exec::TensorMap with_tap(const exec::Executor& ex, const exec::TensorMap& in, std::map<std::string, int>& seen) {
  exec::Tap tap = [&](const std::string& name, const Tensor&) { ++seen[name]; };
  exec::RunOptions ro;
  ro.tap = &tap;
  return ex.run(in, ro);
}

Tensor flag(bool v) { return cast_tensor(Tensor::scalar<uint8_t>(v ? 1 : 0), DType::Bool); }

}  // namespace

TEST(ControlFlow, IfRunsTheSelectedBranchWithOuterValuesAndWeights) {
  Graph g = graph_of(kIfModel);
  exec::Executor ex(g);
  Tensor x = Tensor::from_vector<float>({1, 3}, {2});
  std::map<std::string, int> seen;
  auto then_out = with_tap(ex, {{"c", flag(true)}, {"x", x}}, seen);
  EXPECT_EQ(then_out.at("y").to_vector<float>(), (std::vector<float>{11, 29}));  // x² + {10, 20}
  // The branch's node output reached the tap under its scoped name (unnamed If: its output's name).
  EXPECT_EQ(seen["y/then_branch/t"], 1);
  EXPECT_EQ(seen.count("t"), 0u);
  EXPECT_EQ(seen.count("y/else_branch/e"), 0u);
  EXPECT_EQ(seen["y"], 1);
  auto else_out = ex.run({{"c", flag(false)}, {"x", x}});
  EXPECT_EQ(else_out.at("y").to_vector<float>(), (std::vector<float>{-1, -9}));
}

TEST(ControlFlow, LoopWithTripCountStacksScanOutputs) {
  Graph g = graph_of(kLoopModel);
  exec::Executor ex(g);
  std::map<std::string, int> seen;
  // 4 trips, limit never reached: s = 0+1+2+3+4 = 10, sums = {1, 3, 6, 10}.
  auto out = with_tap(ex, {{"m", Tensor::scalar<int64_t>(4)}, {"c", flag(true)}, {"s0", Tensor::scalar<float>(0)},
                           {"limit", Tensor::scalar<float>(100)}}, seen);
  EXPECT_EQ(out.at("s").to_vector<float>(), (std::vector<float>{10}));
  EXPECT_EQ(out.at("sums").shape(), (Shape{4}));
  EXPECT_EQ(out.at("sums").to_vector<float>(), (std::vector<float>{1, 3, 6, 10}));
  EXPECT_EQ(seen["s/body/sout"], 4);  // once per iteration, scoped
  EXPECT_EQ(seen["s/body/sin"], 4);   // body inputs too
  EXPECT_EQ(seen["s/body/i"], 4);
  EXPECT_EQ(seen.count("sout"), 0u);
}

TEST(ControlFlow, LoopStopsWhenTheBodyConditionTurnsFalse) {
  Graph g = graph_of(kLoopModel);
  exec::Executor ex(g);
  // limit 5: s' = 1 (go on), 3 (go on), 6 (stop) -> three iterations even with m = 100.
  auto out = ex.run({{"m", Tensor::scalar<int64_t>(100)}, {"c", flag(true)}, {"s0", Tensor::scalar<float>(0)},
                     {"limit", Tensor::scalar<float>(5)}});
  EXPECT_EQ(out.at("s").to_vector<float>(), (std::vector<float>{6}));
  EXPECT_EQ(out.at("sums").to_vector<float>(), (std::vector<float>{1, 3, 6}));
  // cond false at the start: no iteration, the carried value passes through, scan is empty.
  auto none = ex.run({{"m", Tensor::scalar<int64_t>(3)}, {"c", flag(false)}, {"s0", Tensor::scalar<float>(7)},
                      {"limit", Tensor::scalar<float>(5)}});
  EXPECT_EQ(none.at("s").to_vector<float>(), (std::vector<float>{7}));
  EXPECT_EQ(none.at("sums").shape(), (Shape{0}));
}

TEST(ControlFlow, ForLoopWithOnlyATripCount) {
  // Loop(M) with no cond input and no loop-carried value: scan = 2·i for i < M.
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (int64 m) => (float[N] twice) {
  twice = Loop (m, ) <body = body_g (int64 i, bool cin) => (bool cout, float scan) {
      cout = Identity(cin)
      two = Constant <value = float {2.0}> ()
      fi = Cast <to = 1> (i)
      scan = Mul(fi, two)
    }>
}
)");
  m.mutable_graph()->mutable_node(0)->mutable_input()->RemoveLast();  // only "m": cond left out entirely
  ASSERT_EQ(m.graph().node(0).input_size(), 1);
  Graph g = build_graph(m);
  exec::Executor ex(g);
  auto out = ex.run({{"m", Tensor::scalar<int64_t>(3)}});
  EXPECT_EQ(out.at("twice").to_vector<float>(), (std::vector<float>{0, 2, 4}));
}

TEST(ControlFlow, UnsupportedNodeInsideABranchIsReported) {
  Graph g = graph_of(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, float[2] x) => (float[2] y) {
  y = If (c) <then_branch = then_g () => (float[2] t) {
      t = FancyOp(x)
    }, else_branch = else_g () => (float[2] e) {
      e = Neg(x)
    }>
}
)");
  try {
    exec::Executor ex(g);
    FAIL() << "expected UnsupportedError";
  } catch (const UnsupportedError& e) {
    EXPECT_NE(std::string(e.what()).find("(FancyOp, opset 13)"), std::string::npos) << e.what();
  }
}
