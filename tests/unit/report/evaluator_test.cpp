// SPDX-License-Identifier: Apache-2.0
#include "ptq/report/evaluator.h"

#include <cmath>
#include <limits>

#include "ptq/ir/npy.h"
#include "ptq/report/format.h"
#include "testutil.h"

using namespace ptq;

namespace {
constexpr double kTol = 1e-9;

// y = relu(x * w): the candidate uses other weights.
Graph scaled_model(const std::vector<float>& w) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1,4] x) => (float[1,4] y) {
  h = Mul(x, w)
  y = Relu(h)
}
)");
  test::add_initializer(m, "w", Tensor::from_vector<float>(w, {4}));
  return build_graph(m);
}
}  // namespace

TEST(Evaluator, CosineSnrTop1AndAccuracyMatchDirectComputation) {
  auto dir = test::fresh_dir();
  std::vector<std::vector<float>> xs = {{1, 2, 3, 4}, {4, 3, 2, 1}, {-1, 5, 0.5f, 2}};
  for (size_t i = 0; i < xs.size(); ++i) {
    std::filesystem::create_directories(dir / std::to_string(i));
    write_npy(dir / std::to_string(i) / "x.npy", Tensor::from_vector<float>(xs[i], {1, 4}));
  }
  std::vector<float> wr = {1, 1, 1, 1}, wc = {1, 1, 1.5f, 0.5f};
  Graph ref = scaled_model(wr), cand = scaled_model(wc);
  auto data = calib::open_data(dir, ref.inputs);
  report::EvalOptions opt;
  opt.tensors = {{"h", "h", "h", false, {}}, {"not_there", "not_there", "h", false, {}}};
  opt.labels = {3, 0, 2};
  opt.progress = false;
  report::EvalResult r = report::evaluate(ref, cand, *data, opt);

  // Independent computation of the same sums.
  double dot = 0, aa = 0, bb = 0, dd = 0, hdd = 0, haa = 0;
  int agree = 0, ok_ref = 0, ok_cand = 0;
  for (size_t s = 0; s < xs.size(); ++s) {
    int am = 0, bm = 0;
    std::vector<double> a(4), b(4);
    for (int i = 0; i < 4; ++i) {
      double ha = xs[s][i] * wr[i], hb = xs[s][i] * wc[i];
      haa += ha * ha;
      hdd += (ha - hb) * (ha - hb);
      a[i] = std::max(0.0, ha);
      b[i] = std::max(0.0, hb);
      dot += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
      dd += (a[i] - b[i]) * (a[i] - b[i]);
      if (a[i] > a[am]) am = i;
      if (b[i] > b[bm]) bm = i;
    }
    agree += am == bm;
    ok_ref += am == opt.labels[s];
    ok_cand += bm == opt.labels[s];
  }
  EXPECT_EQ(r.samples, 3u);
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_NEAR(r.outputs[0].error.cosine(), dot / std::sqrt(aa * bb), kTol);
  EXPECT_NEAR(r.outputs[0].error.snr_db(), 10 * std::log10(aa / dd), kTol);
  EXPECT_TRUE(r.outputs[0].classifier);
  EXPECT_EQ(r.outputs[0].rows, 3);
  EXPECT_EQ(r.outputs[0].top1_agree, agree);
  ASSERT_TRUE(r.has_accuracy);
  EXPECT_NEAR(r.accuracy_reference, ok_ref / 3.0, kTol);
  EXPECT_NEAR(r.accuracy_candidate, ok_cand / 3.0, kTol);
  ASSERT_EQ(r.tensors.size(), 1u);  // "not_there" is skipped
  EXPECT_EQ(r.tensors[0].tensor, "h");
  EXPECT_NEAR(r.tensors[0].error.snr_db(), 10 * std::log10(haa / hdd), kTol);
}

// Samples run on several threads at once and are scored in sample order: every figure is bit-identical
// for any thread count, labels included.
TEST(Evaluator, SameFiguresForAnyThreadCount) {
  auto dir = test::fresh_dir();
  std::vector<int64_t> labels;
  for (int i = 0; i < 11; ++i) {
    std::filesystem::create_directories(dir / std::to_string(100 + i));
    write_npy(dir / std::to_string(100 + i) / "x.npy", test::random_tensor({1, 4}, 40 + static_cast<uint32_t>(i), -2.0f, 2.0f));
    labels.push_back(i % 4);
  }
  Graph ref = scaled_model({1, 1, 1, 1}), cand = scaled_model({1, 1.1f, 0.9f, 1});
  auto data = calib::open_data(dir, ref.inputs);
  report::EvalOptions opt;
  opt.tensors = {{"h", "h", "h", false, {}}};
  opt.labels = labels;
  opt.progress = false;
  opt.threads = 1;
  const report::EvalResult one = report::evaluate(ref, cand, *data, opt);
  for (int threads : {2, 3}) {
    opt.threads = threads;
    const report::EvalResult r = report::evaluate(ref, cand, *data, opt);
    EXPECT_EQ(r.samples, one.samples);
    EXPECT_EQ(r.outputs[0].error.cosine(), one.outputs[0].error.cosine()) << threads;
    EXPECT_EQ(r.outputs[0].error.snr_db(), one.outputs[0].error.snr_db()) << threads;
    EXPECT_EQ(r.outputs[0].top1_agree, one.outputs[0].top1_agree) << threads;
    EXPECT_EQ(r.accuracy_candidate, one.accuracy_candidate) << threads;
    ASSERT_EQ(r.tensors.size(), 1u);
    EXPECT_EQ(r.tensors[0].error.snr_db(), one.tensors[0].error.snr_db()) << threads;
  }
}

TEST(Evaluator, IdenticalModelsAndLabelMismatch) {
  auto dir = test::fresh_dir();
  write_npy(dir / "x.npy", Tensor::from_vector<float>({1, 2, 3, 4}, {1, 4}));
  Graph ref = scaled_model({1, 2, 3, 4});
  auto data = calib::open_data(dir, ref.inputs);
  report::EvalOptions opt;
  opt.progress = false;
  auto r = report::evaluate(ref, ref, *data, opt);
  EXPECT_EQ(r.outputs[0].error.cosine(), 1.0);
  EXPECT_TRUE(std::isinf(r.outputs[0].error.snr_db()));
  opt.labels = {1, 2};
  EXPECT_THROW(report::evaluate(ref, ref, *data, opt), DataError);
}

TEST(Evaluator, ReadLabels) {
  auto dir = test::fresh_dir();
  write_npy(dir / "l.npy", Tensor::from_vector<int64_t>({3, 1, 4}, {3}));
  EXPECT_EQ(report::read_labels((dir / "l.npy").string()), (std::vector<int64_t>{3, 1, 4}));
  test::write_bytes(dir / "l.txt", "7\n\n8\n");
  EXPECT_EQ(report::read_labels((dir / "l.txt").string()), (std::vector<int64_t>{7, 8}));
  test::write_bytes(dir / "bad.txt", "7\ncat\n");
  EXPECT_THROW(report::read_labels((dir / "bad.txt").string()), DataError);
}

TEST(Evaluator, NonFiniteValuesAreCountedAndLeftOutOfTheFigures) {
  // The candidate's w0 = inf turns y[0] into inf (x0 = 1 > 0); that element is counted, not summed.
  auto dir = test::fresh_dir();
  write_npy(dir / "x.npy", Tensor::from_vector<float>({1, -2, 3, 4}, {1, 4}));
  Graph ref = scaled_model({1, 2, 3, 4});
  Graph cand = scaled_model({std::numeric_limits<float>::infinity(), 2, 3, 4.5f});
  auto data = calib::open_data(dir, ref.inputs);
  report::EvalOptions opt;
  opt.progress = false;
  auto r = report::evaluate(ref, cand, *data, opt);
  const report::ErrorStats& e = r.outputs[0].error;
  EXPECT_EQ(e.nonfinite_reference, 0);
  EXPECT_EQ(e.nonfinite_candidate, 1);
  // The rest: reference (0, 9, 16) vs candidate (0, 9, 18), by hand.
  EXPECT_NEAR(e.cosine(), (81.0 + 288.0) / std::sqrt((81.0 + 256.0) * (81.0 + 324.0)), kTol);
  EXPECT_NEAR(e.max_abs, 2.0, kTol);
  const std::string text = report::format_eval(r);
  EXPECT_NE(text.find("warning: output 'y' has 0 NaN/Inf values in FP32 and 1 in the quantized model"), std::string::npos) << text;
  EXPECT_EQ(report::eval_json(r)["outputs"][0]["nonfinite"]["quantized"], 1);
}

// Per-step errors along a sequence's time axis against the cosine computed here; a tensor inside an
// If branch reaches the comparison through the tap, by its scoped name.
TEST(Evaluator, SequencesPerStepAndTensorsInsideBranches) {
  auto model = [](float drift) {
    onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[3,1,1,2] x, bool c) => (float[3,1,1,2] y) {
  y = If (c) <then_branch = t_g () => (float[3,1,1,2] t) { t = Add(x, d) }, else_branch = e_g () => (float[3,1,1,2] e) { e = Neg(x) }>
}
)");
    m.mutable_graph()->mutable_node(0)->set_name("sel");
    std::vector<float> d(6);
    for (size_t i = 0; i < 6; ++i) d[i] = drift * static_cast<float>(i / 2) * (i % 2 ? 1.0f : -1.0f);  // grows with t
    test::add_initializer(m, "d", Tensor::from_vector<float>(d, {3, 1, 1, 2}));
    return build_graph(m);
  };
  Graph ref = model(0.0f), cand = model(0.5f);
  const Tensor x = Tensor::from_vector<float>({1, 2, 1, 2, 1, 2}, {3, 1, 1, 2});
  test::MemoryReader data({{{"x", x}, {"c", cast_tensor(Tensor::scalar<uint8_t>(1), DType::Bool)}}});
  report::EvalOptions opt;
  opt.progress = false;
  opt.sequences = {{"y", "y", "y", 0}};
  opt.tensors = {{"t", "sel/then_branch/t", "sel/then_branch/t", false, {}}};
  report::EvalResult r = report::evaluate(ref, cand, data, opt);
  ASSERT_EQ(r.sequences.size(), 1u);
  ASSERT_EQ(r.sequences[0].steps.size(), 3u);
  for (int t = 0; t < 3; ++t) {  // step t: (1, 2) against (1 - 0.5 t, 2 + 0.5 t)
    const double a0 = 1, a1 = 2, b0 = 1 - 0.5 * t, b1 = 2 + 0.5 * t;
    const double want = (a0 * b0 + a1 * b1) / std::sqrt((a0 * a0 + a1 * a1) * (b0 * b0 + b1 * b1));
    EXPECT_NEAR(r.sequences[0].steps[static_cast<size_t>(t)].cosine(), want, kTol) << "step " << t;
  }
  ASSERT_EQ(r.tensors.size(), 1u);
  EXPECT_EQ(r.tensors[0].error.count, 6);  // found inside the branch
  EXPECT_NE(report::format_eval(r).find("y (3 steps): step 1 1.000000"), std::string::npos) << report::format_eval(r);
}
