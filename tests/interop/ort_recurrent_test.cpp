// SPDX-License-Identifier: Apache-2.0
// ONNX Runtime interop of the bundled recurrent models, quantized by ptq in every mode:
//   models/vad_if_lstm.onnx: Silero-VAD-like, its Conv and LSTM layers inside the branches of an If
//     selected by the scalar input 'sr' (tools/make_vad.py); calibrated on calibration/vad (whose 'sr'
//     files are 1-element arrays);
//   models/fmnist_gru.onnx: a GRU over the 28 rows of a Fashion-MNIST image (tools/train_fmnist_gru.py).
// Static (calibrated by ptq), dynamic Q/DQ, dynamic integer (the VAD's LSTMs become com.microsoft
// DynamicQuantizeLSTM). ONNX Runtime must load each model and (a) stay within the named bound of the
// FP32 model's outputs, (b) agree with ptq's executor on the same quantized graph (ONNX Runtime without
// graph optimizations: the Q/DQ graph as written), and, in static mode, run the Q/DQ groups inside the
// branches as integer kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "ort_util.h"
#include "ptq/exec/executor.h"
#include "ptq/rewrite/target.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::test;

namespace {

// Speech probability, max |quantized - FP32| in ONNX Runtime over the calibration chunks (loud ones
// included). Weights only (dynamic Q/DQ): the target, 0.03 (measured 0.004). Whenever the
// spectrum magnitude is quantized to 8 bits — static, and the integer format (ConvInteger quantizes its
// input per chunk) — its squared dynamic range is lost on quiet bins: measured 0.35 (static) and 0.14
// (integer); the bounds below keep those from getting worse (README: Control flow and recurrent layers).
constexpr double kVadProbTol = 0.03;
constexpr double kVadStaticProbTol = 0.5;
constexpr double kVadIntegerProbTol = 0.25;
// ptq's executor vs ONNX Runtime on the same Q/DQ graph: the static model's output is a Q/DQ'd
// Sigmoid (step 1/255), one step apart at most; dynamic Q/DQ models compute in float.
constexpr double kVadStaticExecutorTol = 1.0 / 255 + 1e-6;
constexpr double kFloatExecutorTol = 1e-4;
// DynamicQuantizeLSTM: ONNX Runtime also quantizes X and h to uint8 at every step, ptq's executor
// runs the LSTM on the dequantized weights in float.
constexpr double kIntegerExecutorTol = 0.03;
// GRU classifier logits: cosine vs FP32, and top-1 agreement with FP32 on the 200 test images.
constexpr double kGruCosine = 0.999;
constexpr double kGruAgreement = 0.98;
// The static GRU model's logits are a Q/DQ'd Gemm output: one output step (range/255) apart at most,
// relative to the largest logit.
constexpr double kGruStaticExecutorRel = 0.02;

const std::filesystem::path kRoot = PTQ_SOURCE_DIR;

struct Mode {
  std::string name;
  rewrite::QuantOptions options;
};

std::vector<Mode> modes() {
  Mode st{"static", {}}, dq{"dynamic", {}}, in{"integer", {}}, nv{"integer_novnni", {}};
  dq.options.mode = in.options.mode = rewrite::QuantMode::Dynamic;
  in.options.dynamic_format = rewrite::DynamicFormat::Integer;
  in.options.reduce_range = ort_u8s8_saturates();  // ConvInteger, DynamicQuantizeLSTM saturate there (ort_util.h)
  // --target ort-cpu-novnni: the integer format with uint8 weights (u8 x u8 kernels: exact on any CPU).
  nv.options = in.options;
  nv.options.reduce_range = false;
  rewrite::apply_target(rewrite::find_target("ort-cpu-novnni"), {}, nv.options);
  return {st, dq, in, nv};
}

// A bundled model, its graph and its quantized form for a mode.
struct Bundled {
  onnx::ModelProto model, q;
  Graph g;
};
onnx::ModelProto quantized(const onnx::ModelProto& model, const Graph& g, const Mode& m, const std::string& calib);
Bundled bundled(const std::string& file, const Mode& m, const std::string& calib) {
  Bundled b;
  EXPECT_TRUE(b.model.ParseFromString(read_bytes(kRoot / file))) << file;
  b.g = build_graph(b.model);
  b.q = quantized(b.model, b.g, m, calib);
  return b;
}

onnx::ModelProto quantized(const onnx::ModelProto& model, const Graph& g, const Mode& m, const std::string& calib) {
  rewrite::QuantPlan plan = rewrite::plan_quantization(g, m.options);
  calib::CalibTable table;
  if (m.options.mode == rewrite::QuantMode::Static) {
    calib::CalibOptions co;
    co.progress = false;
    co.threads = 1;
    table = calib::calibrate(g, rewrite::calib_targets(plan), *calib::open_data(kRoot / calib, g.inputs), co);
  } else {
    table = rewrite::weight_table(g, plan);
  }
  return rewrite::rewrite_model(model, g, plan, table);
}

// The calibration chunks of one sample rate as one batch (they share the chunk length).
exec::TensorMap vad_batch(const Graph& g, int64_t rate) {
  auto data = calib::open_data(kRoot / "calibration/vad", g.inputs);
  std::vector<Tensor> xs, states;
  for (size_t i = 0; i < data->size(); ++i) {
    calib::Sample s = data->read(i);
    if (s.tensors.at("sr").to_vector<int64_t>()[0] != rate) continue;
    xs.push_back(s.tensors.at("input"));
    states.push_back(s.tensors.at("state"));
  }
  const int64_t n = static_cast<int64_t>(xs.size()), len = xs[0].dim(1), hidden = states[0].dim(2);
  Tensor x(DType::Float32, {n, len}), st(DType::Float32, {2, n, hidden});
  for (int64_t b = 0; b < n; ++b) {
    std::copy_n(xs[static_cast<size_t>(b)].data<float>(), len, x.data<float>() + b * len);
    for (int64_t k = 0; k < 2; ++k)
      std::copy_n(states[static_cast<size_t>(b)].data<float>() + k * hidden, hidden, st.data<float>() + (k * n + b) * hidden);
  }
  return {{"input", x}, {"state", st}, {"sr", Tensor::scalar<int64_t>(rate)}};
}

double max_abs(const Tensor& a) {
  double m = 1e-30;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<float>()[i])));
  return m;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<float>()[i]) - b.data<float>()[i]));
  return m;
}

// One batch through the FP32 model and the quantized one in ONNX Runtime (with its optimizations, the
// optimized graph saved as dir/optimized.onnx; and without), and through ptq's executor.
struct Runs {
  OrtRun fp32, fused, plain;
  exec::TensorMap ptq;
};
Runs run_all(const onnx::ModelProto& model, const onnx::ModelProto& q, const exec::TensorMap& in, const std::filesystem::path& dir) {
  Runs r;
  r.fp32 = ort_run(model, in, dir / "fp32");
  EXPECT_TRUE(r.fp32.ok) << r.fp32.error;
  OrtOptions all;
  all.optimized = dir / "optimized.onnx";
  r.fused = ort_run(q, in, dir / "all", all);
  EXPECT_TRUE(r.fused.ok) << "ONNX Runtime rejected the quantized model: " << r.fused.error;
  r.plain = ort_run(q, in, dir / "plain", {"disabled", {}});
  EXPECT_TRUE(r.plain.ok) << r.plain.error;
  r.ptq = exec::Executor(build_graph(q), exec::ExecOptions{1}).run(in);
  return r;
}

// Integer kernels in ONNX Runtime's optimized graph, bodies included.
int count_ops(const onnx::GraphProto& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.node()) {
    n += node.op_type() == op;
    for (const auto& a : node.attribute())
      if (a.has_g()) n += count_ops(a.g(), op);
  }
  return n;
}

class OrtVad : public ::testing::TestWithParam<Mode> {};

TEST_P(OrtVad, BranchesRunInOnnxRuntimeCloseToFp32AndMatchPtq) {
  const Mode& m = GetParam();
  const auto dir = fresh_dir();
  const Bundled b = bundled("models/vad_if_lstm.onnx", m, "calibration/vad");
  for (int64_t rate : {16000, 8000}) {
    const std::string tag = m.name + "_" + std::to_string(rate);
    const Runs r = run_all(b.model, b.q, vad_batch(b.g, rate), dir / tag);
    if (!r.fp32.ok || !r.fused.ok || !r.plain.ok) return;
    const double to_fp32 = max_abs_diff(r.fused.outputs.at("output"), r.fp32.outputs.at("output"));
    const double to_ptq = max_abs_diff(r.plain.outputs.at("output"), r.ptq.at("output"));
    std::printf("[interop] vad %-14s %5lld Hz: max |p - p_fp32| %.4f, ptq executor vs ONNX Runtime %.2e\n", m.name.c_str(),
                static_cast<long long>(rate), to_fp32, to_ptq);
    const bool integer = m.options.mode == rewrite::QuantMode::Dynamic && m.options.dynamic_format == rewrite::DynamicFormat::Integer;
    EXPECT_LE(to_fp32, m.name == "static" ? kVadStaticProbTol : integer ? kVadIntegerProbTol : kVadProbTol) << tag;
    const double tol = m.name == "static" ? kVadStaticExecutorTol : integer ? kIntegerExecutorTol : kFloatExecutorTol;
    EXPECT_LE(to_ptq, tol) << tag;
    if (m.name == "static") {  // the Conv and Gemm Q/DQ groups inside both branches became integer kernels
      onnx::ModelProto opt;
      ASSERT_TRUE(opt.ParseFromString(read_bytes(dir / tag / "optimized.onnx")));
      EXPECT_EQ(count_ops(opt.graph(), "QLinearConv"), 6) << tag;
      EXPECT_EQ(count_ops(opt.graph(), "QGemm"), 2) << tag;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, OrtVad, ::testing::ValuesIn(modes()), [](const auto& info) { return info.param.name; });

class OrtGru : public ::testing::TestWithParam<Mode> {};

TEST_P(OrtGru, RunsInOnnxRuntimeCloseToFp32AndMatchesPtq) {
  const Mode& m = GetParam();
  const auto dir = fresh_dir();
  const Bundled b = bundled("models/fmnist_gru.onnx", m, "calibration/fmnist");
  Tensor all = calib::open_data(kRoot / "models/fmnist_test", b.g.inputs)->read(0).tensors.at("input");
  Tensor x(DType::Float32, {200, 1, 28, 28});
  std::copy_n(all.data<float>(), x.numel(), x.data<float>());
  const Runs r = run_all(b.model, b.q, {{"input", x}}, dir);
  if (!r.fp32.ok || !r.fused.ok || !r.plain.ok) return;
  const Tensor &ref = r.fp32.outputs.at("logits"), &got = r.fused.outputs.at("logits");
  int agree = 0;
  for (int64_t r = 0; r < 200; ++r) {
    const float *a = ref.data<float>() + r * 10, *b = got.data<float>() + r * 10;
    agree += std::max_element(a, a + 10) - a == std::max_element(b, b + 10) - b;
  }
  const double cos = cosine(ref, got);
  const double rel = max_abs_diff(r.plain.outputs.at("logits"), r.ptq.at("logits")) / max_abs(r.plain.outputs.at("logits"));
  std::printf("[interop] gru %-14s cosine %.6f, top-1 agreement %d/200, ptq executor vs ONNX Runtime %.2e rel\n", m.name.c_str(), cos,
              agree, rel);
  EXPECT_GE(cos, kGruCosine);
  EXPECT_GE(agree / 200.0, kGruAgreement);
  // The static model's logits are Q/DQ'd (one output step apart at most); the others compute in float.
  EXPECT_LE(rel, m.name == "static" ? kGruStaticExecutorRel : kFloatExecutorTol);
}

INSTANTIATE_TEST_SUITE_P(Modes, OrtGru, ::testing::ValuesIn(modes()), [](const auto& info) { return info.param.name; });

}  // namespace
