// SPDX-License-Identifier: Apache-2.0
// QuantSim against the rewritten Q/DQ model run by the executor (8-bit and mixed 8/16-bit plans);
// partial re-runs and step-wise runs against full runs; a changed weight; layers, their quantizers and
// MAC counts by hand.
#include "ptq/search/quant_sim.h"

#include <cmath>
#include <cstring>

#include "ptq/calib/calibrator.h"
#include "ptq/quant/scale.h"
#include "ptq/search/layers.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::search;

namespace {

// The simulation and the rewritten model compute the same Q/DQ arithmetic; the executor fuses
// Conv+Relu and Gemm epilogues in the rewritten model, which may change the last bits.
constexpr float kSimVsModelTol = 1e-5f;

// x → Conv(w1, b1) → Relu → Conv(w2) → Add(x) → MaxPool → Flatten → Gemm(wf, bf) → y
onnx::ModelProto residual_net() {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,6,6] x) => (float[1,4] y) {
  c1 = Conv (x, w1, b1)
  r1 = Relu (c1)
  c2 = Conv (r1, w2)
  s = Add (c2, x)
  p = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (s)
  f = Flatten (p)
  y = Gemm <transB = 1> (f, wf, bf)
}
)");
  test::add_initializer(m, "w1", test::random_tensor({2, 2, 1, 1}, 1));
  test::add_initializer(m, "b1", test::random_tensor({2}, 2));
  test::add_initializer(m, "w2", test::random_tensor({2, 2, 1, 1}, 3));
  test::add_initializer(m, "wf", test::random_tensor({4, 18}, 4));
  test::add_initializer(m, "bf", test::random_tensor({4}, 5));
  return m;
}

std::vector<exec::TensorMap> samples(size_t n) {
  std::vector<exec::TensorMap> s;
  for (size_t i = 0; i < n; ++i) s.push_back({{"x", test::random_tensor({1, 2, 6, 6}, 100 + static_cast<uint32_t>(i), -2.0f, 2.0f)}});
  return s;
}

struct Fixture {
  onnx::ModelProto model = residual_net();
  Graph graph = build_graph(model);
  rewrite::QuantPlan plan;
  calib::CalibTable table;
  explicit Fixture(const rewrite::QuantOptions& o = {}) {
    plan = rewrite::plan_quantization(graph, o);
    calib::CalibOptions co;
    co.progress = false;
    co.method = "minmax";
    table = calib::calibrate(graph, rewrite::calib_targets(rewrite::plan_quantization(graph, {})), test::MemoryReader(samples(8)), co);
    table = rewrite::retype_table(table, plan);
  }
};

void expect_near(const exec::TensorMap& a, const exec::TensorMap& b, float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) {
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << name;
    for (int64_t i = 0; i < t.numel(); ++i)
      EXPECT_NEAR(t.data<float>()[i], u.data<float>()[i], tol * (1.0f + std::fabs(t.data<float>()[i]))) << name << " [" << i << "]";
  }
}

// The rewritten model run by the executor vs the simulation with every quantizer on.
void check_against_model(const Fixture& s) {
  onnx::ModelProto q = rewrite::rewrite_model(s.model, s.graph, s.plan, s.table);
  Graph qg = build_graph(q);
  exec::Executor ex(qg);
  QuantSim sim(s.graph, s.plan, rewrite::resolve_params(s.graph, s.plan, s.table), 1);
  for (const auto& in : samples(3)) expect_near(ex.run(in), sim.outputs(sim.run(in, sim.all(true)), sim.all(true)), kSimVsModelTol);
}

}  // namespace

TEST(QuantSim, MatchesTheRewrittenModel) { check_against_model(Fixture()); }

TEST(QuantSim, MatchesAMixedPrecisionModel) {
  Fixture base;
  std::vector<Layer> layers = find_layers(base.graph, base.plan);
  ASSERT_FALSE(layers.empty());
  rewrite::QuantOptions o;
  o.precision = precision_overrides(layers, {0}, base.plan, Fallback::Int16);  // the first Conv in 16 bits
  Fixture mixed(o);
  EXPECT_EQ(mixed.plan.tensors.at("x").spec.type, QType::UInt16);
  EXPECT_EQ(mixed.plan.tensors.at("w1").spec.type, QType::Int16);
  EXPECT_EQ(mixed.plan.tensors.at("b1").spec.type, QType::Int32);  // int32 with the 16-bit scales
  EXPECT_EQ(mixed.plan.tensors.at("wf").spec.type, QType::Int8);
  EXPECT_EQ(mixed.table.tensors.at("x").qparams.type, QType::UInt16);  // retyped from the observed range
  check_against_model(mixed);
}

TEST(QuantSim, FloatFallbackLeavesTheLayersTensorsFloat) {
  Fixture base;
  std::vector<Layer> layers = find_layers(base.graph, base.plan);
  rewrite::QuantOptions o;
  o.precision = precision_overrides(layers, {0}, base.plan, Fallback::Float);
  Fixture mixed(o);
  EXPECT_EQ(mixed.plan.tensors.count("w1"), 0u);
  EXPECT_EQ(mixed.plan.tensors.count("x"), 0u);   // the first Conv's input: read float by the Add too
  EXPECT_EQ(mixed.plan.tensors.count("r1"), 0u);  // its output: the Relu is no longer folded
  EXPECT_FALSE(mixed.plan.nodes[1].removed);
  EXPECT_TRUE(mixed.plan.tensors.count("wf"));
  check_against_model(mixed);
}

TEST(QuantSim, RerunEqualsAFullRun) {
  Fixture s;
  QuantSim sim(s.graph, s.plan, rewrite::resolve_params(s.graph, s.plan, s.table), 1);
  const exec::TensorMap in = samples(1)[0];
  const GroupFlags off = sim.all(false), on = sim.all(true);
  const Trace fp = sim.run(in, off), q = sim.run(in, on);
  for (size_t g = 0; g < sim.groups(); ++g) {
    GroupFlags only = off;
    only[g] = 1;
    expect_near(sim.rerun(fp, off, {g}), sim.outputs(sim.run(in, only), only), 0.0f);
    GroupFlags but = on;
    but[g] = 0;
    expect_near(sim.rerun(q, on, {g}), sim.outputs(sim.run(in, but), but), 0.0f);
  }
  std::vector<size_t> every;
  for (size_t g = 0; g < sim.groups(); ++g) every.push_back(g);
  expect_near(sim.rerun(fp, off, every), sim.outputs(q, on), 0.0f);
}

TEST(Layers, QuantizersAndMacsByHand) {
  Fixture s;
  std::vector<Layer> layers = find_layers(s.graph, s.plan);
  // Conv c1 (Relu folded into it), Conv c2, Add, MaxPool, Flatten, Gemm
  std::vector<std::string> ops;
  for (const auto& l : layers) ops.push_back(l.op_type);
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv", "Conv", "Add", "MaxPool", "Flatten", "Gemm"}));
  EXPECT_EQ(layers[0].weights, std::vector<std::string>{"w1"});
  EXPECT_EQ(layers[0].activations, (std::vector<std::string>{"r1", "x"}));  // reads x, writes r1 (folded)
  EXPECT_EQ(layers[5].weights, std::vector<std::string>{"wf"});
  // MaxPool and Flatten share the Add output's parameters: one group, rooted at s.
  EXPECT_EQ(layers[3].activations, std::vector<std::string>{"s"});
  EXPECT_EQ(activation_groups(s.plan).at("s"), (std::vector<std::string>{"f", "p", "s"}));
  QuantSim sim(s.graph, s.plan, rewrite::resolve_params(s.graph, s.plan, s.table), 1);
  const Trace t = sim.run(samples(1)[0], sim.all(false));
  auto shape_of = [&](const std::string& n) { return sim.shape(t, n); };
  EXPECT_EQ(count_macs(s.graph, layers[0].node, shape_of), 72 * 2);  // Y 1·2·6·6, C 2, 1x1
  EXPECT_EQ(count_macs(s.graph, layers[5].node, shape_of), 4 * 18);  // Y 1·4, K 18
  EXPECT_EQ(count_macs(s.graph, layers[2].node, shape_of), 0);       // Add: not a compute layer
}

TEST(QuantSim, StepWiseRunsEqualAFullRun) {
  Fixture s;
  QuantSim sim(s.graph, s.plan, rewrite::resolve_params(s.graph, s.plan, s.table), 1);
  const GroupFlags on = sim.all(true);
  const exec::TensorMap in = samples(1)[0];
  Trace steps = sim.start(in);
  for (size_t k = 0; k < s.graph.nodes.size(); ++k) {
    Trace jump = sim.start(in);
    sim.advance(jump, on, k);  // one go vs node by node: the same inputs
    sim.advance(steps, on, k);
    for (size_t j = 0; j < s.graph.nodes[k].inputs.size(); ++j) {
      const Tensor a = sim.input(jump, k, j, on), b = sim.input(steps, k, j, on);
      ASSERT_EQ(a.numel(), b.numel());
      EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << "node " << k << " input " << j;
    }
  }
  sim.advance(steps, on, s.graph.nodes.size());
  expect_near(sim.outputs(steps, on), sim.run_outputs(in, on), 0.0f);
  // The first Conv reads x quantized: input() gives fq(x).
  const Tensor x = sim.input(sim.start(in), 0, 0, on);
  const QParams p = rewrite::resolve_params(s.graph, s.plan, s.table).at("x");
  expect_near({{"x", x}}, {{"x", fake_quantize(in.at("x"), p)}}, 0.0f);
}

TEST(QuantSim, UpdateWeightEqualsASimOfTheChangedGraph) {
  Fixture s;
  Graph changed = s.graph;
  const auto params = rewrite::resolve_params(s.graph, s.plan, s.table);
  QuantSim sim(changed, s.plan, params, 1);
  changed.weights["w2"].value = test::random_tensor({2, 2, 1, 1}, 77);  // a new tensor: the buffers are shared
  sim.update_weight("w2");
  QuantSim fresh(changed, s.plan, params, 1);
  const exec::TensorMap in = samples(1)[0];
  expect_near(sim.run_outputs(in, sim.all(true)), fresh.run_outputs(in, fresh.all(true)), 0.0f);
  EXPECT_NE(s.graph.weight("w2")->data<float>()[0], changed.weight("w2")->data<float>()[0]);
}
