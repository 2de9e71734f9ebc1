// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/graph.h"

#include "testutil.h"

using namespace ptq;

TEST(Graph, SortsNodesTopologically) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
unsorted (float[2] x) => (float[2] z) {
  z = Relu(y)
  y = Neg(x)
}
)");
  Graph g = build_graph(m);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].op_type, "Neg");
  EXPECT_EQ(g.nodes[1].op_type, "Relu");
  EXPECT_EQ(g.producer("y"), 0);
  EXPECT_EQ(g.consumers("y"), std::vector<int>{1});
  EXPECT_EQ(g.nodes[1].proto_index, 0);
}

TEST(Graph, MissingInputIsReported) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
broken (float[2] x) => (float[2] z) {
  z = Add(x, ghost)
}
)");
  m.mutable_graph()->mutable_node(0)->set_name("add0");
  try {
    build_graph(m);
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("node 'add0' (Add): input 'ghost'"), std::string::npos) << e.what();
  }
}

TEST(Graph, CycleIsReported) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
cyclic (float[2] x) => (float[2] z) {
  a = Add(x, b)
  b = Relu(a)
  z = Neg(b)
}
)");
  EXPECT_THROW(build_graph(m), ModelError);
}

TEST(Graph, SubgraphOuterReferencesBecomeImplicitInputs) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
branchy (bool c, float[2] x) => (float[2] z) {
  t = Neg(x)
  z = If(c) <then_branch = g1 () => (float[2] o1) { o1 = Relu(t) },
             else_branch = g2 () => (float[2] o2) { o2 = Abs(t) }>
}
)");
  Graph g = build_graph(m);
  ASSERT_EQ(g.nodes.size(), 2u);
  const Node& if_node = g.nodes[1];
  EXPECT_EQ(if_node.op_type, "If");
  EXPECT_EQ(if_node.implicit_inputs, std::vector<std::string>{"t"});
  EXPECT_EQ(g.consumers("t"), std::vector<int>{1});
  const Graph* then_g = if_node.attr_graph("then_branch");
  ASSERT_NE(then_g, nullptr);
  EXPECT_EQ(then_g->outer_refs, std::vector<std::string>{"t"});
}

TEST(Graph, InitializersListedAsInputsAreWeights) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 3, opset_import: ["" : 8]>
old (float[2] x, float[2] w) => (float[2] y) {
  y = Add(x, w)
}
)");
  test::add_initializer(m, "w", test::random_tensor({2}, 5));
  Graph g = build_graph(m);
  ASSERT_EQ(g.inputs.size(), 1u);
  EXPECT_EQ(g.inputs[0].name, "x");
  EXPECT_TRUE(g.is_weight("w"));
}

TEST(Graph, ShapeInferenceFillsIntermediates) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
shapes (float[N,3,8,8] x) => (float[N,3,4,4] y) {
  h = Relu(x)
  y = MaxPool <kernel_shape = [2,2], strides = [2,2]> (h)
}
)");
  Graph g = build_graph(m);
  const ValueInfo* h = g.info("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->dtype, DType::Float32);
  EXPECT_EQ(h->shape_str(), "[N,3,8,8]");
}

// Found by fuzzing (tests/fuzz/corpus/model/regress-conv-weight-rank.onnx): ONNX 1.12's shape inference
// crashed (SIGSEGV) on a Conv whose weight has a higher rank than its input. The graph is built; the
// node keeps its own attributes (the kernel_shape spelled out for inference is not left behind).
TEST(Graph, ConvWeightOfHigherRankThanItsInputDoesNotCrashShapeInference) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
bad (float[N,1] x) => (float[N,2,4,4] y) {
  y = Conv <pads = [1, 1, 1, 1]> (x, w)
}
)");
  test::add_initializer(m, "w", test::random_tensor({2, 1, 77, 3}, 1));
  Graph g = build_graph(m);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_FALSE(g.nodes[0].has_attr("kernel_shape"));
  EXPECT_EQ(m.graph().node(0).attribute_size(), 1);
}

// Found by fuzzing again (tests/fuzz/corpus/model/regress-conv-weight-graph-output.onnx): the weight of
// higher rank is no initializer but a tensor typed only by the graph's declarations (here a graph output;
// with known kernel dims: spelled out from them), or with unknown kernel dims (then ONNX's inference is
// skipped). Either way the model is refused cleanly afterwards (nothing produces w).
TEST(Graph, ConvWeightTypedOnlyByDeclarationsDoesNotCrashShapeInference) {
  for (const char* w_type : {"float[N,2,4,4]", "float[N,2,K,K]"}) {
    onnx::ModelProto m = test::parse_text_model(std::string(R"(
<ir_version: 8, opset_import: ["" : 13]>
bad (float[N,1] x) => ()") + w_type + R"( w, float[N,2,4,4] c) {
  c = Conv <pads = [1, 1, 1, 1]> (x, w, b)
}
)");
    test::add_initializer(m, "b", test::random_tensor({2}, 1));
    try {
      build_graph(m);
      ADD_FAILURE() << w_type << ": built a graph whose Conv reads an unproduced tensor";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("input 'w' is not produced"), std::string::npos) << e.what();
    }
  }
}

// The same crash with the weight computed in the graph (found by review, not yet by the fuzzer): a
// Constant node (dims from its value), a DequantizeLinear of an int8 initializer, an Identity of one
// (dims through ops that keep them), or an op whose output dims ptq does not know here (a Reshape:
// ONNX's inference is skipped). The graph is built, or refused with an error; no SIGSEGV.
TEST(Graph, ConvWeightComputedInTheGraphDoesNotCrashShapeInference) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"constant",  // 54 ones
       "w = Constant <value = float[2,1,3,3,3] {1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
       "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1}> ()"},
      {"dequantize", "w = DequantizeLinear (wq, s)"},
      {"identity", "wf = DequantizeLinear (wq, s)\n  w = Identity (wf)"},
      {"reshape", "wf = DequantizeLinear (wq, s)\n  w = Reshape (wf, shape)"}};
  for (const auto& [what, producer] : cases) {
    onnx::ModelProto m = test::parse_text_model(std::string(R"(
<ir_version: 8, opset_import: ["" : 13]>
bad (float[1,1,8,8] x) => (float[1,2,6,6] y) {
  )") + producer + R"(
  y = Conv (x, w)
}
)");
    Tensor wq(DType::Int8, {2, 1, 3, 3, 3});
    std::fill(wq.data<int8_t>(), wq.data<int8_t>() + wq.numel(), int8_t{1});
    test::add_initializer(m, "wq", wq);
    test::add_initializer(m, "s", Tensor::scalar(0.5f));
    test::add_initializer(m, "shape", Tensor::from_vector<int64_t>({2, 1, 3, 3, 3}, {5}));
    try {
      Graph g = build_graph(m);
      EXPECT_FALSE(g.nodes.back().has_attr("kernel_shape")) << what;
    } catch (const Error& e) {
      SUCCEED() << what << ": " << e.what();
    }
  }
}
