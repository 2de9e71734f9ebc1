// SPDX-License-Identifier: Apache-2.0
// repair_value_info and apply_observed_shapes on hand-made declarations: what is replaced (with its
// note), what is merged, what is left to a run, and which observed dims are written as numbers.
#include "ptq/ir/value_info_repair.h"

#include "odd_models.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;

namespace {

// x [N,3] → MatMul (3x4) → Relu → y; declarations as given.
onnx::ModelProto mlp(int64_t opset = 13, const std::string& x_dims = "N,3") {
  onnx::ModelProto m = parse_text_model("<ir_version: 8, opset_import: [\"\" : " + std::to_string(opset) + "]>\ng (float[" + x_dims +
                                        "] x) => (float[N,4] y) {\n  h = MatMul(x, w)\n  y = Relu(h)\n}\n");
  add_initializer(m, "w", random_tensor({3, 4}, 1));
  return m;
}

std::string dims(const onnx::ModelProto& m, const std::string& name) {
  for (const auto* list : {&m.graph().value_info(), &m.graph().output()})
    for (const auto& v : *list) {
      if (v.name() != name) continue;
      const auto& t = v.type().tensor_type();
      std::string s = std::to_string(t.elem_type()) + (t.has_shape() ? " [" : " (no shape)");
      for (int i = 0; i < t.shape().dim_size(); ++i) {
        const auto& d = t.shape().dim(i);
        s += (i ? "," : "") + (d.has_dim_value() ? std::to_string(d.dim_value()) : d.dim_param().empty() ? "?" : d.dim_param());
      }
      return t.has_shape() ? s + "]" : s;
    }
  return "(none)";
}

}  // namespace

TEST(ValueInfoRepair, ContradictionsAreReplacedWithANoteEach) {
  onnx::ModelProto m = mlp();
  set_value_info(m, "h", onnx::TensorProto::INT64, {"N", "4"});
  set_value_info(m, "y", onnx::TensorProto::FLOAT, {"N", "5", "1"});
  const ValueInfoRepair r = repair_value_info(m);
  EXPECT_TRUE(r.inference_trusted);
  EXPECT_TRUE(r.unverified.empty());
  ASSERT_EQ(r.notes.size(), 2u);
  EXPECT_EQ(r.notes[0], "value_info of 'h' says int64 [N,4], shape inference gives float32 [N,4]: written as the latter");
  EXPECT_EQ(r.notes[1], "value_info of 'y' says float32 [N,5,1], shape inference gives float32 [N,4]: written as the latter");
  EXPECT_EQ(dims(m, "h"), "1 [N,4]");
  EXPECT_EQ(dims(m, "y"), "1 [N,4]");
}

TEST(ValueInfoRepair, AgreeingEntriesGainWhatInferenceKnowsAndKeepTheirNames) {
  onnx::ModelProto m = mlp();
  set_value_info(m, "h", onnx::TensorProto::FLOAT, {"batch", "?"});
  m.mutable_graph()->mutable_value_info(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->clear_dim_param();
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  const ValueInfoRepair r = repair_value_info(m);
  EXPECT_TRUE(r.notes.empty());
  EXPECT_TRUE(r.unverified.empty());
  EXPECT_EQ(dims(m, "h"), "1 [batch,4]");  // the declared name, inference's 4
  EXPECT_EQ(dims(m, "y"), "1 [N,4]");      // inference's shape for an output without one
}

TEST(ValueInfoRepair, NewerOpsetsAreLeftToARun) {
  onnx::ModelProto m = mlp(18, "2,3");
  set_value_info(m, "h", onnx::TensorProto::FLOAT, {"2", "5"});
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  const ValueInfoRepair r = repair_value_info(m);
  EXPECT_FALSE(r.inference_trusted);
  EXPECT_TRUE(r.notes.empty());
  EXPECT_EQ(r.unverified, (std::vector<std::string>{"h", "y"}));
  EXPECT_EQ(dims(m, "h"), "1 [2,5]");  // untouched
  std::string untyped;
  EXPECT_FALSE(outputs_typed(m, &untyped));
  EXPECT_EQ(untyped, "y");

  const std::vector<std::string> notes =
      apply_observed_shapes(m, {{"h", {DType::Float32, {2, 4}}}, {"y", {DType::Float32, {2, 4}}}});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0], "value_info of 'h' says float32 [2,5], a run of the model gives float32 [2,4]: written as the latter");
  EXPECT_EQ(dims(m, "h"), "1 [2,4]");
  EXPECT_EQ(dims(m, "y"), "1 [2,4]");  // static inputs: the observed numbers
  EXPECT_TRUE(outputs_typed(m));
}

TEST(ValueInfoRepair, ObservedDimsOfSymbolicModelsAreWrittenUnknownUnlessDeclared) {
  onnx::ModelProto m = mlp(18);
  set_value_info(m, "h", onnx::TensorProto::FLOAT, {"N", "4"});
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  const std::vector<std::string> notes =
      apply_observed_shapes(m, {{"h", {DType::Float32, {2, 4}}}, {"y", {DType::Float32, {2, 4}}}});
  EXPECT_TRUE(notes.empty());
  EXPECT_EQ(dims(m, "h"), "1 [N,4]");  // the declared name and number agree with the run
  EXPECT_EQ(dims(m, "y"), "1 [?,?]");  // may follow the sample's size
}

TEST(ValueInfoRepair, DeclaredDimNamesStayThroughARunOfAStaticModel) {
  onnx::ModelProto m = mlp(18, "2,3");
  set_value_info(m, "h", onnx::TensorProto::FLOAT, {"rows", "4"});  // e.g. a data-dependent count
  const std::vector<std::string> notes = apply_observed_shapes(m, {{"h", {DType::Float32, {2, 4}}}});
  EXPECT_TRUE(notes.empty());
  EXPECT_EQ(dims(m, "h"), "1 [rows,4]");
}
