// SPDX-License-Identifier: Apache-2.0
// analyze_sensitivity: the same figures whatever the thread count; with group_zero_mac, layers with
// MACs measured exactly and a block of layers without MACs sharing the error of one run with all their
// quantizers on, in proportion to their quantizers' own noise, both computed here by brute force. And
// search_precision's FP32 references, shared between searches (--adaround's two): computed once, read after.
#include "ptq/search/sensitivity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "ptq/calib/calibrator.h"
#include "ptq/exec/executor.h"
#include "ptq/search/precision_search.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::search;

namespace {

constexpr double kRel = 1e-9;  // brute force vs the analysis: the same sums in another order

// x → Conv(w1, b1) → c; a = c + three; m = c · a (layers without MACs, attached to the Conv);
// y = Conv(m, w2).
onnx::ModelProto block_net() {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
net (float[1,2,5,5] x) => (float[1,2,5,5] y) {
  c = Conv (x, w1, b1)
  a = Add (c, three)
  m = Mul (c, a)
  y = Conv (m, w2)
}
)");
  test::add_initializer(m, "w1", test::random_tensor({2, 2, 1, 1}, 1));
  test::add_initializer(m, "b1", test::random_tensor({2}, 2));
  test::add_initializer(m, "three", Tensor::from_vector<float>({3.0f}, {}));
  test::add_initializer(m, "w2", test::random_tensor({2, 2, 1, 1}, 3));
  return m;
}

std::vector<exec::TensorMap> samples(size_t n) {
  std::vector<exec::TensorMap> s;
  for (size_t i = 0; i < n; ++i)
    s.push_back({{"x", test::random_tensor({1, 2, 5, 5}, 200 + static_cast<uint32_t>(i), -2.0f, 2.0f)}});
  return s;
}

struct Fixture {
  onnx::ModelProto model = block_net();
  Graph graph = build_graph(model);
  rewrite::QuantPlan plan = rewrite::plan_quantization(graph, {});
  calib::CalibTable table;
  test::MemoryReader data{samples(3)};
  Fixture() {
    calib::CalibOptions co;
    co.progress = false;
    co.method = "minmax";
    table = calib::calibrate(graph, rewrite::calib_targets(plan), data, co);
  }
  SensitivityResult analyze(bool blocks, int threads) {
    QuantSim sim(graph, plan, rewrite::resolve_params(graph, plan, table), 1);
    std::vector<Layer> layers = find_layers(graph, plan);
    SensitivityOptions o;
    o.samples = 3;
    o.except = false;
    o.threads = threads;
    o.progress = false;
    o.group_zero_mac = blocks;
    return analyze_sensitivity(graph, sim, layers, data, o);
  }
};

size_t layer_named(const std::vector<Layer>& layers, const std::string& op) {
  for (size_t k = 0; k < layers.size(); ++k)
    if (layers[k].op_type == op) return k;
  ADD_FAILURE() << "no " << op << " layer";
  return 0;
}

std::vector<size_t> groups_of(const QuantSim& sim, const Layer& l) {
  std::set<size_t> g;
  for (const auto& t : l.activations) g.insert(static_cast<size_t>(sim.group_of(t)));
  for (const auto& t : l.weights) g.insert(static_cast<size_t>(sim.group_of(t)));
  return {g.begin(), g.end()};
}

// noise/signal of fake-quantizing `tensor` as its first reader sees it, summed over the samples.
double own_noise(const Fixture& f, const QuantSim& sim, const std::string& tensor) {
  const int node = f.graph.consumers(tensor).at(0);
  const Node& n = f.graph.nodes[static_cast<size_t>(node)];
  const size_t k = static_cast<size_t>(std::find(n.inputs.begin(), n.inputs.end(), tensor) - n.inputs.begin());
  double noise = 0.0, signal = 0.0;
  for (size_t i = 0; i < f.data.size(); ++i) {
    Trace t = sim.start(f.data.read(i).tensors);
    sim.advance(t, sim.all(false), static_cast<size_t>(node));
    const Tensor raw = sim.input(t, static_cast<size_t>(node), k, sim.all(false)),
                 fq = sim.input(t, static_cast<size_t>(node), k, sim.all(true));
    for (int64_t j = 0; j < raw.numel(); ++j) {
      const double d = static_cast<double>(fq.data<float>()[j]) - raw.data<float>()[j];
      noise += d * d;
      signal += static_cast<double>(raw.data<float>()[j]) * raw.data<float>()[j];
    }
  }
  return noise / signal;
}

}  // namespace

TEST(Sensitivity, SameFiguresWhateverTheThreads) {
  Fixture f;
  for (bool blocks : {false, true}) {
    const SensitivityResult one = f.analyze(blocks, 1);
    for (int threads : {2, 3}) {
      const SensitivityResult many = f.analyze(blocks, threads);
      ASSERT_EQ(many.layers.size(), one.layers.size());
      EXPECT_EQ(many.ranking(), one.ranking()) << "threads " << threads;
      for (size_t k = 0; k < one.layers.size(); ++k)
        for (size_t o = 0; o < one.layers[k].only.size(); ++o) {
          EXPECT_EQ(many.layers[k].only[o].diff_sq, one.layers[k].only[o].diff_sq)
              << "layer " << k << " threads " << threads;
          EXPECT_EQ(many.layers[k].only[o].dot, one.layers[k].only[o].dot) << "layer " << k << " threads " << threads;
        }
    }
  }
}

TEST(Sensitivity, ZeroMacLayersShareTheirBlocksError) {
  Fixture f;
  QuantSim sim(f.graph, f.plan, rewrite::resolve_params(f.graph, f.plan, f.table), 1);
  const std::vector<Layer> layers = find_layers(f.graph, f.plan);
  ASSERT_EQ(layers.size(), 4u);
  const size_t conv = layer_named(layers, "Conv"), add = layer_named(layers, "Add"), mul = layer_named(layers, "Mul");
  const SensitivityResult exact = f.analyze(false, 1), shared = f.analyze(true, 1);
  // The Conv layers: measured on their own either way.
  EXPECT_EQ(shared.layers[conv].only[0].diff_sq, exact.layers[conv].only[0].diff_sq);
  // The block {Add, Mul}: one run with both layers' quantizers on, by brute force.
  std::vector<size_t> block = groups_of(sim, layers[add]);
  for (size_t g : groups_of(sim, layers[mul])) block.push_back(g);
  GroupFlags flags = sim.all(false);
  for (size_t g : block) flags[g] = 1;
  report::ErrorStats run;
  for (size_t i = 0; i < f.data.size(); ++i) {
    const calib::Sample s = f.data.read(i);
    run.add(sim.run_outputs(s.tensors, sim.all(false)).at("y"), sim.run_outputs(s.tensors, flags).at("y"));
  }
  ASSERT_GT(run.diff_sq, 0.0);
  // Shares: each layer's quantizers' noise/signal over the block's (c, three, a for the Add; c, a, m
  // for the Mul; the block: c, three, a, m).
  const double c = own_noise(f, sim, "c"), three = own_noise(f, sim, "three"), a = own_noise(f, sim, "a"),
               m = own_noise(f, sim, "m");
  const double total = c + three + a + m;
  ASSERT_GT(total, 0.0);
  EXPECT_NEAR(shared.layers[add].only[0].diff_sq, run.diff_sq * (c + three + a) / total, kRel * run.diff_sq);
  EXPECT_NEAR(shared.layers[mul].only[0].diff_sq, run.diff_sq * (c + a + m) / total, kRel * run.diff_sq);
  EXPECT_NEAR(shared.layers[add].only[0].ref_sq, run.ref_sq, kRel * run.ref_sq);
}

// A search given shared references fills them with the float model's outputs of every evaluation
// sample; a later search reads them instead of running the float model again: with the references
// negated, its cosine is the first one's negated.
TEST(PrecisionSearch, FillsSharedReferencesOnceAndReadsThem) {
  constexpr double kSameSums = 1e-5;  // the simulator with every quantizer off vs the executor
  Fixture f;
  SearchOptions so;
  so.tolerance.target_cosine = 0.5;
  so.base_only = true;  // the plan without promotions only
  so.dither = false;
  so.threads = 1;
  so.progress = false;
  References refs;
  so.references = &refs;
  const SearchResult first = search_precision(f.graph, {}, f.table, f.data, so);
  ASSERT_EQ(refs.outputs.size(), f.data.size());
  ASSERT_EQ(refs.ids.size(), f.data.size());
  for (size_t i = 0; i < f.data.size(); ++i) {
    const Tensor want = exec::Executor(f.graph).run(f.data.read(i).tensors).at("y");
    const Tensor& got = refs.outputs[i].at("y");
    ASSERT_EQ(got.numel(), want.numel());
    for (int64_t j = 0; j < want.numel(); ++j)
      EXPECT_NEAR(got.data<float>()[j], want.data<float>()[j], kSameSums * (1.0 + std::fabs(want.data<float>()[j])));
  }
  ASSERT_GT(first.attempts.at(0).worst_cosine, 0.5);
  for (auto& outputs : refs.outputs)
    for (auto& [name, t] : outputs)
      for (int64_t j = 0; j < t.numel(); ++j) t.data<float>()[j] = -t.data<float>()[j];
  const SearchResult second = search_precision(f.graph, {}, f.table, f.data, so);
  EXPECT_NEAR(second.attempts.at(0).worst_cosine, -first.attempts.at(0).worst_cosine, 1e-9);
  EXPECT_EQ(refs.outputs.size(), f.data.size());
}
