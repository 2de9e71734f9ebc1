// SPDX-License-Identifier: Apache-2.0
// ONNX Runtime interop matrix: every mode/type combination of the rewriter on small generated models.
// For each case: plan → calibrate (min/max of ONNX Runtime's own FP32 activations on 32 samples) →
// rewrite → ONNX Runtime loads and runs the quantized model (default optimizations, i.e. with its
// Q/DQ fusions) on 16 held-out samples, whose output must stay close to FP32 (cosine ≥ the case's
// named bound), and ptq's executor must agree with ONNX Runtime running the same Q/DQ graph without
// fusions (quantized outputs: within kExecutorLsb steps of the output scale; float outputs of dynamic
// mode: within kExecutorFloatTol relative to the output's largest magnitude).
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "interop_models.h"
#include "ort_util.h"
#include "ptq/exec/executor.h"
#include "ptq/search/layers.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;
using rewrite::QuantOptions;

namespace {

// Output cosine vs FP32 on these nets (measured: 8-bit ≥ 0.99993, 16-bit activations ≥ 0.99998,
// 16/16-bit ≥ 0.999999, dynamic 8-bit ≥ 0.99997); the bounds keep a 10x margin on 1 − cosine and are
// tighter than the INT8 target (0.99).
constexpr double kCos8Bit = 0.999;         // 8-bit activations, 8- or 16-bit weights
constexpr double kCos16BitAct = 0.9995;    // 16-bit activations, 8-bit weights: weight error dominates
constexpr double kCos16Bit = 0.99999;      // 16-bit activations and weights
constexpr double kCosDynamic8 = 0.999;     // weights only, 8-bit
constexpr double kCosDynamic16 = 0.99999;  // weights only, 16-bit
constexpr double kCosInteger = 0.999;      // integer format: 8-bit weights and dynamic uint8 activations
// 4-bit weights (measured: static per-channel ≥ 0.9985, per-tensor ≥ 0.9969; dynamic per-channel
// ≥ 0.9954, per-tensor ≥ 0.9942, the embedding net lowest), same 10x margin.
constexpr double kCos4Bit = 0.985;              // 8-bit activations, 4-bit per-channel weights
constexpr double kCos4BitPerTensor = 0.97;      // 8-bit activations, 4-bit per-tensor weights
constexpr double kCosDynamic4 = 0.95;           // weights only, 4-bit per channel
constexpr double kCosDynamic4PerTensor = 0.94;  // weights only, 4-bit per tensor
// ptq's executor vs ONNX Runtime on the same Q/DQ graph.
constexpr double kExecutorLsb = 1.0;        // output quantization steps
constexpr double kExecutorFloatTol = 1e-4;  // relative to max |output|

enum class Net { Conv, Mlp, Embedding };

struct Case {
  Case(std::string n, Net k, int o = 13) : name(std::move(n)), net(k), opset(o) {}
  std::string name;
  Net net;
  int opset;
  QuantOptions options;
  double min_cosine = 1.0;
  std::vector<size_t> promote;  // mixed precision: these layers (search::find_layers order) at `fallback`
  search::Fallback fallback = search::Fallback::Int16;
};

const char* net_name(Net n) { return n == Net::Conv ? "conv" : n == Net::Mlp ? "mlp" : "embedding"; }
bool wide(QType t) { return t == QType::Int16 || t == QType::UInt16; }
std::string short_name(QType t) {
  switch (t) {
    case QType::UInt8: return "u8";
    case QType::Int8: return "s8";
    case QType::UInt16: return "u16";
    case QType::Int16: return "s16";
    case QType::Int4: return "s4";
    case QType::UInt4: return "u4";
    default: return "s32";
  }
}

std::vector<Case> static_cases() {
  std::vector<Case> cases;
  for (Net net : {Net::Conv, Net::Mlp})
    for (QType act : {QType::UInt8, QType::Int8, QType::UInt16, QType::Int16})
      for (QType w : {QType::Int8, QType::UInt8, QType::Int16})
        for (bool pc : {true, false}) {
          Case c(std::string(net_name(net)) + "_static_a" + short_name(act) + "_w" + short_name(w) + (pc ? "_pc" : "_pt"), net);
          c.options.activation_type = act;
          c.options.weight_type = w;
          c.options.per_channel = pc;
          c.min_cosine = !wide(act) ? kCos8Bit : wide(w) ? kCos16Bit : kCos16BitAct;
          cases.push_back(c);
        }
  for (QType act : {QType::UInt8, QType::Int8}) {
    Case sym("conv_static_a" + short_name(act) + "_sym", Net::Conv);
    sym.options.activation_type = act;
    sym.options.symmetric_activations = true;
    sym.min_cosine = kCos8Bit;
    cases.push_back(sym);
    Case rr("conv_static_a" + short_name(act) + "_reduce_range", Net::Conv);
    rr.options.activation_type = act;
    rr.options.reduce_range = true;
    rr.min_cosine = kCos8Bit;
    cases.push_back(rr);
    Case old("conv_static_a" + short_name(act) + "_opset11", Net::Conv, 11);  // com.microsoft per-channel DQ
    old.options.activation_type = act;
    old.min_cosine = kCos8Bit;
    cases.push_back(old);
  }
  // Mixed precision (the precision search's output): some layers 16-bit or float among 8-bit ones, at
  // opset 11 (com.microsoft Q/DQ throughout) and 13.
  for (int opset : {11, 13})
    for (auto fallback : {search::Fallback::Int16, search::Fallback::Float}) {
      Case c("conv_mixed_" + search::fallback_name(fallback) + "_opset" + std::to_string(opset), Net::Conv, opset);
      c.promote = {0, 3};
      c.fallback = fallback;
      c.min_cosine = kCos8Bit;
      cases.push_back(c);
    }
  Case mlp("mlp_mixed_int16", Net::Mlp);
  mlp.promote = {0};
  mlp.min_cosine = kCos8Bit;
  cases.push_back(mlp);
  // 4-bit weights (opset-21 DequantizeLinear from int4/uint4 initializers).
  for (Net net : {Net::Conv, Net::Mlp})
    for (const auto& [act, w, pc] : {std::tuple{QType::UInt8, QType::Int4, true}, std::tuple{QType::UInt8, QType::Int4, false},
                                     std::tuple{QType::UInt8, QType::UInt4, true}, std::tuple{QType::Int8, QType::Int4, true}}) {
      Case c(std::string(net_name(net)) + "_static_a" + short_name(act) + "_w" + short_name(w) + (pc ? "_pc" : "_pt"), net);
      c.options.activation_type = act;
      c.options.weight_type = w;
      c.options.per_channel = pc;
      c.options.int8_first = c.options.int8_last = 0;  // every layer 4-bit
      c.min_cosine = pc ? kCos4Bit : kCos4BitPerTensor;
      cases.push_back(c);
    }
  // ... on per-channel asymmetric grids (--asymmetric-weights: a zero point per output channel), every
  // layer 4-bit and with the symmetric 8-bit edges.
  for (Net net : {Net::Conv, Net::Mlp})
    for (QType w : {QType::Int4, QType::UInt4})
      for (bool edges : {false, true}) {
        Case c(std::string(net_name(net)) + "_static_w" + short_name(w) + "_asym" + (edges ? "_int8_edges" : ""), net);
        c.options.weight_type = w;
        c.options.asymmetric_weights = true;
        if (!edges) c.options.int8_first = c.options.int8_last = 0;
        c.min_cosine = kCos4Bit;
        cases.push_back(c);
      }
  // The default 4-bit model: the first and last layers' weights int8 (uint8 with uint4), between them
  // 4-bit (conv_net: W1 and G 8-bit, W2 and W3 4-bit).
  for (QType w : {QType::Int4, QType::UInt4}) {
      Case c("conv_static_w" + short_name(w) + "_int8_edges", Net::Conv);
      c.options.weight_type = w;
      c.min_cosine = kCos4Bit;
      cases.push_back(c);
    }
  for (QType act : {QType::UInt16, QType::Int16}) {
    Case c("conv_static_a" + short_name(act) + "_ws16_opset21", Net::Conv);
    c.options.activation_type = act;
    c.options.weight_type = QType::Int16;
    c.options.opset = 21;
    c.min_cosine = kCos16Bit;
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> dynamic_cases() {
  std::vector<Case> cases;
  for (Net net : {Net::Conv, Net::Mlp, Net::Embedding})
    for (auto format : {rewrite::DynamicFormat::QDQ, rewrite::DynamicFormat::Integer})
      for (QType w : {QType::Int8, QType::UInt8, QType::Int16})
        for (bool pc : {true, false}) {
          if (format == rewrite::DynamicFormat::Integer && wide(w)) continue;  // 8-bit integer kernels only
          Case c(std::string(net_name(net)) + "_dynamic_" + rewrite::dynamic_format_name(format) + "_w" + short_name(w) +
                     (pc ? "_pc" : "_pt"),
                 net);
          c.options.mode = rewrite::QuantMode::Dynamic;
          c.options.dynamic_format = format;
          c.options.weight_type = w;
          c.options.per_channel = pc;
          c.min_cosine = format == rewrite::DynamicFormat::Integer ? kCosInteger : wide(w) ? kCosDynamic16 : kCosDynamic8;
          // MatMulInteger/ConvInteger saturate on such CPUs (ort_util.h): the weights one bit narrower.
          c.options.reduce_range = format == rewrite::DynamicFormat::Integer && ort_u8s8_saturates();
          cases.push_back(c);
        }
  for (Net net : {Net::Conv, Net::Mlp, Net::Embedding})
    for (const auto& [w, pc] : {std::pair{QType::Int4, true}, std::pair{QType::UInt4, false}}) {
      Case c(std::string(net_name(net)) + "_dynamic_qdq_w" + short_name(w) + (pc ? "_pc" : "_pt"), net);
      c.options.mode = rewrite::QuantMode::Dynamic;
      c.options.weight_type = w;
      c.options.per_channel = pc;
      c.options.int8_first = c.options.int8_last = 0;  // every layer 4-bit
      c.min_cosine = pc ? kCosDynamic4 : kCosDynamic4PerTensor;
      cases.push_back(c);
    }
  return cases;
}

onnx::ModelProto make_net(Net net, int opset) {
  return net == Net::Conv ? conv_net(opset) : net == Net::Mlp ? mlp_net(opset) : embedding_net(opset);
}

// FP32 data per (net, opset), computed once: calibration activations and held-out reference outputs.
struct Fp32Data {
  onnx::ModelProto model;
  Graph graph;
  exec::TensorMap calib_activations;
  exec::TensorMap eval_inputs;
  exec::TensorMap eval_outputs;
};

// Files go under `dir` (per test: ctest runs the cases as concurrent processes).
const Fp32Data& fp32_data(Net net, int opset, const std::filesystem::path& dir) {
  static std::map<std::pair<int, int>, Fp32Data> cache;
  auto key = std::make_pair(static_cast<int>(net), opset);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Fp32Data d;
  d.model = make_net(net, opset);
  d.graph = build_graph(d.model);
  d.calib_activations = ort_activations(d.model, d.graph, make_inputs(d.model, 32, 1), dir / "calib");
  d.eval_inputs = make_inputs(d.model, 16, 2);
  OrtRun ref = ort_run(d.model, d.eval_inputs, dir / "eval");
  EXPECT_TRUE(ref.ok) << ref.error;
  d.eval_outputs = ref.outputs;
  return cache.emplace(key, std::move(d)).first->second;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class OrtInterop : public ::testing::TestWithParam<Case> {};

// Largest difference of quantization codes round(v / step) of two dequantized tensors.
double max_code_diff(const Tensor& a, const Tensor& b, double step) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs(std::nearbyint(a.data<float>()[i] / step) - std::nearbyint(b.data<float>()[i] / step)));
  return m;
}
double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
  return m;
}
double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<float>()[i])));
  return m;
}

TEST_P(OrtInterop, RunsInOnnxRuntimeCloseToFp32AndMatchesPtqExecutor) {
  const Case& c = GetParam();
  const auto dir = fresh_dir();
  const Fp32Data& fp = fp32_data(c.net, c.opset, dir / "fp32");
  ASSERT_FALSE(fp.eval_outputs.empty());
  QuantOptions options = c.options;
  if (!c.promote.empty()) {
    const rewrite::QuantPlan base = rewrite::plan_quantization(fp.graph, options);
    options.precision = search::precision_overrides(search::find_layers(fp.graph, base), c.promote, base, c.fallback);
  }
  rewrite::QuantPlan plan = rewrite::plan_quantization(fp.graph, options);
  calib::CalibTable table = minmax_table(fp.graph, plan, fp.calib_activations);
  onnx::ModelProto q = rewrite::rewrite_model(fp.model, fp.graph, plan, table);

  OrtRun fused = ort_run(q, fp.eval_inputs, dir / "all");
  ASSERT_TRUE(fused.ok) << "ONNX Runtime rejected the quantized model: " << fused.error;
  OrtRun plain = ort_run(q, fp.eval_inputs, dir / "disabled", {"disabled", {}});
  ASSERT_TRUE(plain.ok) << plain.error;
  Graph qg = build_graph(q);
  exec::ExecOptions one_thread;  // ctest already runs the cases in parallel
  one_thread.threads = 1;
  exec::TensorMap ours = exec::Executor(qg, one_thread).run(fp.eval_inputs);

  for (const auto& [name, ref] : fp.eval_outputs) {
    double cos = cosine(ref, fused.outputs.at(name));
    EXPECT_GE(cos, c.min_cosine) << c.name << ": output '" << name << "' cosine vs FP32";
    RecordProperty("cosine_" + name, std::to_string(cos));
    std::printf("[interop] %-40s %-7s cosine %.6f", c.name.c_str(), name.c_str(), cos);
    const Tensor &theirs = plain.outputs.at(name), &mine = ours.at(name);
    auto t = plan.tensors.find(name);
    if (t != plan.tensors.end() && t->second.kind == rewrite::TensorPlan::Kind::Activation) {
      std::string root = name;
      while (!plan.tensors.at(root).params_from.empty()) root = plan.tensors.at(root).params_from;
      const double step = table.tensors.at(root).qparams.scale[0];
      const double lsb = max_code_diff(theirs, mine, step);
      std::printf("  executor diff %.2f LSB\n", lsb);
      EXPECT_LE(lsb, kExecutorLsb) << c.name << ": ptq executor vs ONNX Runtime, output '" << name << "'";
    } else {
      const double rel = max_abs_diff(theirs, mine) / std::max(max_abs(theirs), 1e-30);
      std::printf("  executor diff %.2e rel\n", rel);
      EXPECT_LE(rel, kExecutorFloatTol) << c.name << ": ptq executor vs ONNX Runtime, output '" << name << "'";
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Static, OrtInterop, ::testing::ValuesIn(static_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Dynamic, OrtInterop, ::testing::ValuesIn(dynamic_cases()), case_name);

}  // namespace
