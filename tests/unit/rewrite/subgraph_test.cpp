// SPDX-License-Identifier: Apache-2.0
// Quantization inside If/Loop bodies: plans and scoped keys, weights of a body and weights read from the
// enclosing graph, activations from the enclosing graph quantized inside the body, calibration through
// the tap, the rewritten bodies (valid, float weights dropped, results close to FP32), dynamic mode, and
// a Loop body calibrated once per iteration.
#include <cmath>

#include "ptq/exec/executor.h"
#include "rewrite_helpers.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

constexpr double kMinCosine = 0.999;  // 8-bit weights and activations on O(1) values, 2 layers

// branch: If(c) then: Conv(x, Wt, Bt) → Relu → t;  else: Conv(x, We) → Sigmoid → e.
// Wt, Bt are initializers of the then-branch; We an initializer of the model's graph (outer scope).
onnx::ModelProto branch_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
branchy (float[1,2,4,4] x, bool c) => (float[1,3,4,4] y) {
  y = If (c) <then_branch = then_g () => (float[1,3,4,4] t) {
      tc = Conv <pads = [1, 1, 1, 1]> (x, Wt, Bt)
      t = Relu(tc)
    }, else_branch = else_g () => (float[1,3,4,4] e) {
      ec = Conv <pads = [1, 1, 1, 1]> (x, We)
      e = Sigmoid(ec)
    }>
}
)");
  onnx::NodeProto& node = *m.mutable_graph()->mutable_node(0);
  node.set_name("branch");
  onnx::ModelProto holder;  // add_initializer works on a model's graph: build the branch's there
  *holder.mutable_graph() = node.attribute(0).name() == "then_branch" ? node.attribute(0).g() : node.attribute(1).g();
  add_initializer(holder, "Wt", random_tensor({3, 2, 3, 3}, 3));
  add_initializer(holder, "Bt", Tensor::from_vector<float>({0.5f, -0.25f, 0.125f}, {3}));
  for (auto& a : *node.mutable_attribute())
    if (a.name() == "then_branch") *a.mutable_g() = holder.graph();
  add_initializer(m, "We", random_tensor({3, 2, 3, 3}, 4));
  return m;
}

// Loop(m, c, s0): body s' = Tanh(MatMul(s, Wl)), scan output s'. Wl is an initializer of the body.
onnx::ModelProto loop_model() {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
looped (int64 m, bool c, float[1,8] s0) => (float[1,8] s, float[N,1,8] all) {
  s, all = Loop (m, c, s0) <body = body_g (int64 i, bool cin, float[1,8] sin) => (bool cout, float[1,8] sout, float[1,8] scan) {
      h = MatMul(sin, Wl)
      sout = Tanh(h)
      cout = Identity(cin)
      scan = Identity(sout)
    }>
}
)");
  onnx::NodeProto& node = *m.mutable_graph()->mutable_node(0);
  node.set_name("loop");
  onnx::ModelProto holder;
  *holder.mutable_graph() = node.attribute(0).g();
  add_initializer(holder, "Wl", random_tensor({8, 8}, 5, -0.5f, 0.5f));
  *node.mutable_attribute(0)->mutable_g() = holder.graph();
  return m;
}

Tensor flag(bool v) { return cast_tensor(Tensor::scalar<uint8_t>(v ? 1 : 0), DType::Bool); }

double cosine(const Tensor& a, const Tensor& b) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    ab += x * y, aa += x * x, bb += y * y;
  }
  return ab / std::sqrt(aa * bb);
}

const onnx::GraphProto& body_of(const onnx::ModelProto& m, const std::string& node, const std::string& attr) {
  for (const auto& n : m.graph().node())
    if (n.name() == node)
      for (const auto& a : n.attribute())
        if (a.name() == attr) return a.g();
  ADD_FAILURE() << "no body " << node << "." << attr;
  return m.graph();
}

std::map<std::string, int> body_op_counts(const onnx::GraphProto& g) {
  std::map<std::string, int> counts;
  for (const auto& n : g.node()) ++counts[n.op_type()];
  return counts;
}

bool has_initializer(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return true;
  return false;
}

// Samples taking both branches.
MemoryReader branch_samples(int count, bool only_then = false) {
  std::vector<std::map<std::string, Tensor>> samples;
  for (int i = 0; i < count; ++i)
    samples.push_back({{"x", random_tensor({1, 2, 4, 4}, 100 + static_cast<uint32_t>(i))}, {"c", flag(only_then || i % 2 == 0)}});
  return MemoryReader(samples);
}

}  // namespace

TEST(Subgraph, BodiesArePlannedWithScopedKeys) {
  Graph g = build_graph(branch_model());
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, QuantOptions{});
  EXPECT_EQ(plan.tensors.size(), 0u);  // nothing of the model's graph itself
  ASSERT_EQ(plan.subgraphs.size(), 2u);
  EXPECT_EQ(plan.quantized_node_count(), 3u);  // then Conv (Relu folded), else Conv and Sigmoid
  const rewrite::QuantPlan* then_plan = nullptr;
  for (const auto& sp : plan.subgraphs)
    if (sp.attr == "then_branch") then_plan = sp.plan.get();
  ASSERT_NE(then_plan, nullptr);
  EXPECT_EQ(then_plan->tensors.at("Wt").table_key(), "branch/then_branch/Wt");
  EXPECT_EQ(then_plan->tensors.at("Bt").table_key(), "branch/then_branch/Bt");
  EXPECT_EQ(then_plan->tensors.at("t").table_key(), "branch/then_branch/t");  // the Relu's output (folded)
  EXPECT_EQ(then_plan->tensors.at("x").table_key(), "x");  // read from the model's graph
  std::set<std::string> keys;
  for (const auto& t : rewrite::calib_targets(plan)) EXPECT_TRUE(keys.insert(t.tensor).second) << t.tensor << " listed twice";
  for (const char* k : {"x", "We", "branch/then_branch/Wt", "branch/then_branch/t", "branch/else_branch/ec", "branch/else_branch/e"})
    EXPECT_TRUE(keys.count(k)) << k;
}

TEST(Subgraph, CalibrationObservesBodiesThroughTheTap) {
  Graph g = build_graph(branch_model());
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, QuantOptions{});
  calib::CalibOptions co;
  co.method = "minmax";
  co.progress = false;
  calib::CalibTable table = calib::calibrate(g, rewrite::calib_targets(plan), branch_samples(6), co);
  const calib::TensorCalib& t = table.tensors.at("branch/then_branch/t");
  EXPECT_EQ(t.min.at(0), 0.0f);  // a Relu output
  EXPECT_GT(t.max.at(0), 0.0f);
  const calib::TensorCalib& ec = table.tensors.at("branch/else_branch/ec");
  EXPECT_LT(ec.min.at(0), 0.0f);  // a Conv output of both signs
  EXPECT_GT(ec.max.at(0), 0.0f);
  EXPECT_EQ(table.tensors.at("branch/else_branch/e").method, "fixed");  // Sigmoid: [0, 1], not observed
  // Samples that never take the else branch leave its tensors unobserved: one error naming them.
  std::string err = error_of([&] { calib::calibrate(g, rewrite::calib_targets(plan), branch_samples(3, true), co); });
  EXPECT_NE(err.find("'branch/else_branch/ec'"), std::string::npos) << err;
}

TEST(Subgraph, RewrittenBodiesHoldTheirQdqAndQuantizedWeights) {
  onnx::ModelProto model = branch_model();
  Quantized q;
  q.graph = build_graph(model);
  q.plan = rewrite::plan_quantization(q.graph, QuantOptions{});
  calib::CalibOptions co;
  co.method = "minmax";
  co.progress = false;
  q.table = calib::calibrate(q.graph, rewrite::calib_targets(q.plan), branch_samples(8), co);
  q.model = rewrite::rewrite_model(model, q.graph, q.plan, q.table);
  EXPECT_EQ(q.model.graph().node_size(), 1);  // the If alone: every Q/DQ lives in the branches
  EXPECT_EQ(find_initializer(q.model, "We"), nullptr);  // replaced by the else branch's int8 copy
  const onnx::GraphProto& then_g = body_of(q.model, "branch", "then_branch");
  const onnx::GraphProto& else_g = body_of(q.model, "branch", "else_branch");
  EXPECT_TRUE(has_initializer(then_g, "Wt_quantized"));
  EXPECT_FALSE(has_initializer(then_g, "Wt"));
  EXPECT_TRUE(has_initializer(then_g, "Bt_quantized"));
  EXPECT_TRUE(has_initializer(else_g, "We_quantized"));
  auto then_ops = body_op_counts(then_g), else_ops = body_op_counts(else_g);
  EXPECT_EQ(then_ops["QuantizeLinear"], 2);    // x (from the enclosing graph), t
  EXPECT_EQ(then_ops["DequantizeLinear"], 4);  // x, Wt, Bt, t
  EXPECT_EQ(then_ops.count("Relu"), 0u);
  EXPECT_EQ(else_ops["QuantizeLinear"], 3);    // x, ec, e
  EXPECT_EQ(else_ops["DequantizeLinear"], 4);  // x, We, ec, e
  // The branch output keeps its name on the DQ output.
  bool t_from_dq = false;
  for (const auto& n : then_g.node()) t_from_dq |= n.op_type() == "DequantizeLinear" && n.output(0) == "t";
  EXPECT_TRUE(t_from_dq);

  Graph fg = build_graph(model), qg = build_graph(q.model);
  exec::Executor fe(fg), qe(qg);
  for (bool c : {true, false}) {
    exec::TensorMap in = {{"x", random_tensor({1, 2, 4, 4}, 7, -1.0f, 1.0f)}, {"c", flag(c)}};
    EXPECT_GT(cosine(fe.run(in).at("y"), qe.run(in).at("y")), kMinCosine) << (c ? "then" : "else");
  }
}

TEST(Subgraph, DynamicModeQuantizesBodyWeightsOnly) {
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  Quantized q = quantize(branch_model(), o);
  auto then_ops = body_op_counts(body_of(q.model, "branch", "then_branch"));
  EXPECT_EQ(then_ops.count("QuantizeLinear"), 0u);
  EXPECT_EQ(then_ops["DequantizeLinear"], 1);  // Wt (no int32 bias without an input scale)
  EXPECT_EQ(q.plan.quantized_node_count(), 2u);
}

TEST(Subgraph, LoopBodyIsCalibratedOncePerIteration) {
  onnx::ModelProto model = loop_model();
  Graph g = build_graph(model);
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, QuantOptions{});
  EXPECT_EQ(plan.quantized_node_count(), 1u);  // the MatMul (Tanh has no rule)
  calib::CalibOptions co;
  co.method = "minmax";
  co.progress = false;
  std::vector<std::map<std::string, Tensor>> samples = {
      {{"m", Tensor::scalar<int64_t>(3)}, {"c", flag(true)}, {"s0", random_tensor({1, 8}, 9)}}};
  calib::CalibTable table = calib::calibrate(g, rewrite::calib_targets(plan), MemoryReader(samples), co);
  // The body input 'sin' over the three iterations: s0, then two Tanh outputs.
  exec::Executor ex(g);
  exec::TensorMap out = ex.run(samples[0]);
  float lo = 0, hi = 0;
  for (float v : samples[0].at("s0").to_vector<float>()) lo = std::min(lo, v), hi = std::max(hi, v);
  const std::vector<float> all = out.at("all").to_vector<float>();
  for (size_t k = 0; k < 16; ++k) lo = std::min(lo, all[k]), hi = std::max(hi, all[k]);  // iterations 1, 2 feed 2, 3
  EXPECT_EQ(table.tensors.at("loop/body/sin").min.at(0), lo);
  EXPECT_EQ(table.tensors.at("loop/body/sin").max.at(0), hi);
  onnx::ModelProto qm = rewrite::rewrite_model(model, g, plan, table);
  EXPECT_TRUE(has_initializer(body_of(qm, "loop", "body"), "Wl_quantized"));
  Graph qg = build_graph(qm);
  EXPECT_GT(cosine(out.at("all"), exec::Executor(qg).run(samples[0]).at("all")), kMinCosine);
}

TEST(Subgraph, NothingToQuantizeNamesABodyNode) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (bool c, int64[2] a) => (int64[2] y) {
  y = If (c) <then_branch = t_g () => (int64[2] t) { t = Add(a, a) }, else_branch = e_g () => (int64[2] e) { e = Mul(a, a) }>
}
)");
  std::string err = error_of([&] { rewrite::plan_quantization(build_graph(m), QuantOptions{}); });
  EXPECT_NE(err.find("nothing to quantize"), std::string::npos) << err;
  EXPECT_NE(err.find("writing 'e'"), std::string::npos) << err;  // the reason names a body's node
}

// LSTM in a body: W and R per gate row in Q/DQ form; DynamicQuantizeLSTM in the integer format, whose
// executor run equals the Q/DQ form's (both compute the LSTM on the same dequantized weights).
TEST(Recurrent, LstmWeightsPerGateRowAndDynamicQuantizeLstm) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
rnn (float[5,1,4] x, float[1,1,3] h0) => (float[5,1,1,3] y, float[1,1,3] yh) {
  y, yh = LSTM <hidden_size = 3> (x, W, R, B, , h0)
}
)");
  add_initializer(m, "W", random_tensor({1, 12, 4}, 21));
  add_initializer(m, "R", random_tensor({1, 12, 3}, 22));
  add_initializer(m, "B", random_tensor({1, 24}, 23));
  m.mutable_graph()->mutable_node(0)->set_name("lstm");
  QuantOptions o;
  o.mode = rewrite::QuantMode::Dynamic;
  Quantized dq = quantize(m, o);
  EXPECT_EQ(op_counts(dq.model)["DequantizeLinear"], 2);
  EXPECT_EQ(attr_int(*producer_of(dq.model, "W_DequantizeLinear_Output"), "axis", -1), 1);
  EXPECT_EQ(initializer_value(dq.model, "W_scale").shape(), (Shape{12}));
  o.dynamic_format = rewrite::DynamicFormat::Integer;
  Quantized in = quantize(m, o);
  const onnx::NodeProto* node = find_node(in.model, "lstm_quant");
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->domain(), "com.microsoft");
  EXPECT_EQ(node->op_type(), "DynamicQuantizeLSTM");
  EXPECT_EQ(node->input_size(), 12);
  EXPECT_EQ(initializer_value(in.model, node->input(1)).shape(), (Shape{1, 4, 12}));  // [D, input, 4H]
  EXPECT_EQ(initializer_value(in.model, node->input(8)).shape(), (Shape{1, 12}));     // W_scale [D, 4H]
  exec::TensorMap inputs = {{"x", random_tensor({5, 1, 4}, 24)}, {"h0", random_tensor({1, 1, 3}, 25)}};
  Graph gq = build_graph(dq.model), gi = build_graph(in.model);
  exec::TensorMap a = exec::Executor(gq).run(inputs), b = exec::Executor(gi).run(inputs);
  EXPECT_EQ(a.at("y").to_vector<float>(), b.at("y").to_vector<float>());
  EXPECT_EQ(a.at("yh").to_vector<float>(), b.at("yh").to_vector<float>());
}

// Scan (an RNN cell as its body): the executor runs it (states, scan inputs and outputs, reversed
// directions) and its body is quantized like a Loop's, calibrated once per step.
TEST(Subgraph, ScanBodyIsQuantized) {
  onnx::ModelProto m = parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
scanned (float[1,4] h0, float[5,1,4] xs) => (float[1,4] h, float[5,1,4] ys) {
  h, ys = Scan (h0, xs) <num_scan_inputs = 1, scan_output_directions = [1], body = cell (float[1,4] hin, float[1,4] x) => (float[1,4] hout, float[1,4] y) {
      a = MatMul(x, Wx)
      b = MatMul(hin, Wh)
      s = Add(a, b)
      hout = Tanh(s)
      y = Identity(hout)
    }>
}
)");
  onnx::NodeProto& node = *m.mutable_graph()->mutable_node(0);
  node.set_name("scan");
  onnx::ModelProto holder;
  for (auto& a : *node.mutable_attribute())
    if (a.name() == "body") *holder.mutable_graph() = a.g();
  add_initializer(holder, "Wx", random_tensor({4, 4}, 31, -0.6f, 0.6f));
  add_initializer(holder, "Wh", random_tensor({4, 4}, 32, -0.6f, 0.6f));
  for (auto& a : *node.mutable_attribute())
    if (a.name() == "body") *a.mutable_g() = holder.graph();
  Graph g = build_graph(m);
  exec::TensorMap in = {{"h0", random_tensor({1, 4}, 33)}, {"xs", random_tensor({5, 1, 4}, 34)}};
  exec::TensorMap fp = exec::Executor(g).run(in);
  // ys is stacked in reverse (scan_output_directions 1): its first row is the last step's state, h.
  EXPECT_EQ(std::vector<float>(fp.at("ys").data<float>(), fp.at("ys").data<float>() + 4), fp.at("h").to_vector<float>());
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, QuantOptions{});
  EXPECT_EQ(plan.quantized_node_count(), 3u);  // two MatMuls and the Add
  calib::CalibOptions co;
  co.method = "minmax";
  co.progress = false;
  calib::CalibTable table = calib::calibrate(g, rewrite::calib_targets(plan), MemoryReader({in}), co);
  EXPECT_TRUE(table.tensors.count("scan/body/hin"));  // a body input, observed at every step
  onnx::ModelProto qm = rewrite::rewrite_model(m, g, plan, table);
  EXPECT_TRUE(has_initializer(body_of(qm, "scan", "body"), "Wx_quantized"));
  Graph qg = build_graph(qm);
  EXPECT_GT(cosine(fp.at("ys"), exec::Executor(qg).run(in).at("ys")), kMinCosine);
}
