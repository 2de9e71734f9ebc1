// SPDX-License-Identifier: Apache-2.0
// calibrate() on small models against naive statistics computed here, its errors, and the JSON table.
#include "ptq/calib/calibrator.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "ptq/calib/observer.h"
#include "ptq/quant/scale.h"
#include "testutil.h"

using namespace ptq;
using namespace ptq::calib;
using test::MemoryReader;

namespace {

// y = x * w (w per channel along axis 1 of x: [2,3] * [3]); r = Relu(y); out = r + 1.
constexpr const char* kModel = R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[N,3] x) => (float[N,3] out) <float[3] w = {0.5, -2.0, 4.0}, float one = {1.0}> {
  y = Mul(x, w)
  r = Relu(y)
  out = Add(r, one)
}
)";

Graph model() { return build_graph(test::parse_text_model(kModel)); }

std::vector<exec::TensorMap> samples(int n) {
  std::vector<exec::TensorMap> s;
  for (int i = 0; i < n; ++i) s.push_back({{"x", test::random_tensor({2, 3}, 10 + static_cast<uint32_t>(i), -3.0f, 3.0f)}});
  return s;
}

const QuantSpec kAct{QType::UInt8, false, false};
const QuantSpec kWeight{QType::Int8, true, false};

std::vector<CalibTarget> targets() {
  return {{"x", kAct, -1, false}, {"y", kAct, -1, false}, {"r", kAct, -1, false}, {"w", kWeight, 0, true}};
}

// y = 1 / x: an x of 0 gives a non-finite activation.
Graph reciprocal_model() {
  return build_graph(test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] x) => (float[2] y) <float one = {1.0}> {
  y = Div(one, x)
}
)"));
}

CalibOptions quiet(const std::string& method) {
  CalibOptions o;
  o.method = method;
  o.progress = false;
  return o;
}

}  // namespace

TEST(Calibrator, MinMaxMatchesNaiveStatistics) {
  Graph g = model();
  auto data = samples(5);
  CalibTable t = calibrate(g, targets(), MemoryReader(data), quiet("minmax"));
  EXPECT_EQ(t.method, "minmax");
  EXPECT_EQ(t.samples, 5u);
  const float w[3] = {0.5f, -2.0f, 4.0f};
  float ylo = 1e30f, yhi = -1e30f, xlo = 1e30f, xhi = -1e30f;
  for (const auto& s : data) {
    const float* x = s.at("x").data<float>();
    for (int i = 0; i < 6; ++i) {
      xlo = std::min(xlo, x[i]);
      xhi = std::max(xhi, x[i]);
      ylo = std::min(ylo, x[i] * w[i % 3]);
      yhi = std::max(yhi, x[i] * w[i % 3]);
    }
  }
  const TensorCalib& y = t.tensors.at("y");
  EXPECT_EQ(y.min, std::vector<float>{ylo});
  EXPECT_EQ(y.max, std::vector<float>{yhi});
  QParams expect = compute_qparams(Range{ylo, yhi}, kAct);
  EXPECT_EQ(y.qparams.scale, expect.scale);
  EXPECT_EQ(y.qparams.zero_point, expect.zero_point);
  EXPECT_EQ(t.tensors.at("x").min, std::vector<float>{xlo});  // a graph input is observed too
  EXPECT_EQ(t.tensors.at("r").min, std::vector<float>{0.0f});
  EXPECT_EQ(t.tensors.at("r").max, std::vector<float>{std::max(yhi, 0.0f)});
  // The weight, per channel along axis 0, from the initializer: symmetric int8 scale = |w_c| / 127.
  const TensorCalib& wc = t.tensors.at("w");
  ASSERT_EQ(wc.qparams.scale.size(), 3u);
  EXPECT_EQ(wc.qparams.axis, 0);
  for (int c = 0; c < 3; ++c) {
    EXPECT_FLOAT_EQ(wc.qparams.scale[static_cast<size_t>(c)], std::fabs(w[c]) / 127.0f);
    EXPECT_EQ(wc.qparams.zero_point[static_cast<size_t>(c)], 0);
    EXPECT_EQ(wc.min[static_cast<size_t>(c)], w[c]);
  }
}

TEST(Calibrator, EveryMethodProducesRangesInsideTheObservedOnes) {
  Graph g = model();
  auto data = samples(8);
  for (const auto& e : observer_table()) {
    CalibTable t = calibrate(g, targets(), MemoryReader(data), quiet(e.name));
    ASSERT_EQ(t.tensors.size(), 4u) << e.name;
    for (const auto& kv : t.tensors) {
      const TensorCalib& c = kv.second;
      EXPECT_EQ(c.method, e.name);
      const bool symmetric = kv.first == "w";
      for (size_t k = 0; k < c.range.size(); ++k) {
        float lo = std::min(c.min[k], 0.0f), hi = std::max(c.max[k], 0.0f);
        if (symmetric) hi = std::max(-lo, hi), lo = -hi;  // symmetric grids span [-absmax, absmax]
        EXPECT_GE(c.range[k].lo, lo * 1.01f - 1e-6f) << e.name << " " << kv.first;
        EXPECT_LE(c.range[k].hi, hi * 1.01f + 1e-6f) << e.name << " " << kv.first;
        EXPECT_GT(c.qparams.scale[k], 0.0f);
      }
    }
  }
}

// Samples are streamed on several threads at once (order-independent observers): every method's table
// is bit-identical for 1, 2 and 3 threads; moving-average minmax (order-dependent) stays sequential
// and is identical too.
TEST(Calibrator, TablesAreIdenticalForAnyThreadCount) {
  Graph g = model();
  auto data = samples(23);
  auto same = [](const CalibTable& a, const CalibTable& b, const std::string& what) {
    ASSERT_EQ(a.tensors.size(), b.tensors.size()) << what;
    EXPECT_EQ(a.samples, b.samples) << what;
    for (const auto& [name, x] : a.tensors) {
      const TensorCalib& y = b.tensors.at(name);
      EXPECT_EQ(x.min, y.min) << what << " " << name;
      EXPECT_EQ(x.max, y.max) << what << " " << name;
      ASSERT_EQ(x.range.size(), y.range.size()) << what << " " << name;
      for (size_t k = 0; k < x.range.size(); ++k) {
        EXPECT_EQ(x.range[k].lo, y.range[k].lo) << what << " " << name;
        EXPECT_EQ(x.range[k].hi, y.range[k].hi) << what << " " << name;
      }
      EXPECT_EQ(x.qparams.scale, y.qparams.scale) << what << " " << name;
      EXPECT_EQ(x.qparams.zero_point, y.qparams.zero_point) << what << " " << name;
    }
  };
  std::vector<CalibOptions> runs;
  for (const auto& e : observer_table()) runs.push_back(quiet(e.name));
  runs.push_back(quiet("minmax"));
  runs.back().moving_average = 0.25f;
  for (CalibOptions o : runs) {
    o.threads = 1;
    const CalibTable one = calibrate(g, targets(), MemoryReader(data), o);
    for (int threads : {2, 3}) {
      o.threads = threads;
      same(one, calibrate(g, targets(), MemoryReader(data), o), o.method + " threads " + std::to_string(threads));
    }
  }
}

// With samples on several threads, the error reported is the first failing sample's, as in a
// sequential pass.
TEST(Calibrator, FirstFailingSampleIsReportedWithThreads) {
  Graph g = reciprocal_model();
  std::vector<exec::TensorMap> data;
  for (int i = 0; i < 40; ++i) data.push_back({{"x", Tensor::from_vector<float>({1, i % 7 == 5 ? 0.0f : 2.0f}, {2})}});
  for (int threads : {1, 2, 3}) {
    CalibOptions o = quiet("kl");
    o.threads = threads;
    try {
      calibrate(g, {{"y", kAct, -1, false}}, MemoryReader(data), o);
      FAIL() << "no error";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("sample 's5'"), std::string::npos) << threads << ": " << e.what();
    }
  }
}

TEST(Calibrator, NonFiniteActivationNamesTensorAndSample) {
  Graph g = reciprocal_model();
  std::vector<exec::TensorMap> data = {{{"x", Tensor::from_vector<float>({1, 2}, {2})}},
                                       {{"x", Tensor::from_vector<float>({1, 0}, {2})}}};
  try {
    calibrate(g, {{"y", kAct, -1, false}}, MemoryReader(data), quiet("minmax"));
    FAIL() << "no error";
  } catch (const DataError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("sample 's1'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("tensor 'y' has a non-finite value (inf)"), std::string::npos) << msg;
  }
}

// A weight's non-finite value is the model's fault: ModelError naming the weight and index, checked in
// the same pass that observes it (static calibration and the weights-only table alike).
TEST(Calibrator, NonFiniteWeightIsAModelError) {
  Graph g = build_graph(test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] x) => (float[2] y) <float[2] w = {1.0, 1.0}> {
  y = Mul(x, w)
}
)"));
  g.weights.at("w").value.data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  try {
    calibrate_weights(g, {{"w", kWeight, -1, true}}, "minmax");
    FAIL() << "no error";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("weight 'w' holds a non-finite value at index 1"), std::string::npos) << e.what();
  }
}

TEST(Calibrator, TargetNeverProducedIsNamed) {
  Graph g = model();
  std::vector<exec::TensorMap> empty = {{{"x", Tensor(DType::Float32, {0, 3})}}};
  try {
    calibrate(g, {{"y", kAct, -1, false}, {"r", kAct, -1, false}}, MemoryReader(empty), quiet("kl"));
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("calibration targets 'r', 'y' were never produced"), std::string::npos) << e.what();
  }
}

TEST(Calibrator, BadTargetsAreNamed) {
  Graph g = model();
  MemoryReader data(samples(1));
  EXPECT_THROW(calibrate(g, {{"nope", kAct, -1, false}}, data, quiet("minmax")), ModelError);
  EXPECT_THROW(calibrate(g, {{"y", kAct, -1, true}}, data, quiet("minmax")), ModelError);
  EXPECT_THROW(calibrate(g, {{"y", kAct}, {"y", kAct}}, data, quiet("minmax")), UsageError);
  EXPECT_THROW(calibrate(g, {{"y", kAct}}, data, quiet("kll")), UsageError);
}

TEST(CalibTable, RoundTripIsBitExact) {
  Graph g = model();
  CalibTable t = calibrate(g, targets(), MemoryReader(samples(6)), quiet("kl"));
  t.model = "model.onnx";
  t.tensors["odd"] = TensorCalib{"odd", "kl", {1.0f / 3.0f}, {0.1f}, {{-1e-38f, 3.4e38f}},
                                 QParams{QType::Int16, {7.000001e-5f}, {0}, -1}};
  auto path = test::fresh_dir() / "calib.json";
  save_table(t, path);
  CalibTable back = load_table(path);
  EXPECT_EQ(back.model, "model.onnx");
  EXPECT_EQ(back.method, "kl");
  EXPECT_EQ(back.samples, 6u);
  ASSERT_EQ(back.tensors.size(), t.tensors.size());
  auto same_bits = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  for (const auto& kv : t.tensors) {
    const TensorCalib& a = kv.second;
    const TensorCalib& b = back.tensors.at(kv.first);
    EXPECT_EQ(a.method, b.method);
    EXPECT_TRUE(same_bits(a.min, b.min)) << kv.first;
    EXPECT_TRUE(same_bits(a.max, b.max)) << kv.first;
    EXPECT_TRUE(same_bits(a.qparams.scale, b.qparams.scale)) << kv.first;
    EXPECT_EQ(a.qparams.zero_point, b.qparams.zero_point);
    EXPECT_EQ(a.qparams.axis, b.qparams.axis);
    EXPECT_EQ(a.qparams.type, b.qparams.type);
    ASSERT_EQ(a.range.size(), b.range.size());
    for (size_t k = 0; k < a.range.size(); ++k) {
      EXPECT_EQ(std::memcmp(&a.range[k], &b.range[k], sizeof(Range)), 0) << kv.first;
    }
  }
}

TEST(CalibTable, LoadErrorsNameFileAndField) {
  auto dir = test::fresh_dir();
  struct Case {
    std::string json;
    const char* expect;
  };
  const std::string head = R"({"format": "ptq-calibration-table", "version": 1, "model": "m", "method": "kl", "samples": 1, "tensors": )";
  const std::string ok_tensor = R"("method": "kl", "axis": -1, "min": [0], "max": [1], "range": [[0, 1]], "zero_point": [0])";
  const Case cases[] = {
      {"{", "not valid JSON"},
      {R"({"format": "other"})", "format: expected \"ptq-calibration-table\""},
      {head + R"({"t": {)" + ok_tensor + R"(, "scale": [0.1]}}})", "tensors.t.dtype: missing"},
      {head + R"({"t": {)" + ok_tensor + R"(, "dtype": "int9", "scale": [0.1]}}})", "tensors.t.dtype: unknown quantization type 'int9'"},
      {head + R"({"t": {)" + ok_tensor + R"(, "dtype": "uint8", "scale": ["a"]}}})", "tensors.t.scale[0]: expected a number"},
      {head + R"({"t": {)" + ok_tensor + R"(, "dtype": "uint8", "scale": [0.1, 0.2]}}})", "tensors.t.scale: a per-tensor entry"},
      {head + R"({"t": {)" + ok_tensor + R"(, "dtype": "uint8", "scale": [0]}}})", "tensors.t.scale[0]: scales must be positive"},
      // Found by fuzzing (tests/fuzz/corpus/calib_table/regress-*): a number beyond double escaped as
      // nlohmann's out_of_range, and one beyond float was narrowed with undefined behaviour.
      {R"({"format": 1e400})", "not valid JSON"},
      {head + R"({"t": {)" + ok_tensor + R"(, "dtype": "uint8", "scale": [1e300]}}})", "tensors.t.scale[0]: beyond the float32 range"},
  };
  int k = 0;
  for (const Case& c : cases) {
    auto path = dir / ("t" + std::to_string(k++) + ".json");
    test::write_bytes(path, c.json);
    try {
      load_table(path);
      ADD_FAILURE() << "no error for " << c.json;
    } catch (const DataError& e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.rfind(path.string() + ": ", 0), 0u) << msg;
      EXPECT_NE(msg.find(c.expect), std::string::npos) << msg;
    }
  }
  EXPECT_THROW(load_table(dir / "missing.json"), IoError);
}

TEST(Calibrator, TensorInsideAnIfBranchNeverTakenIsNamed) {
  Graph g = build_graph(test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[2] x, bool c) => (float[2] y) {
  y = If (c) <
    then_branch = then_g () => (float[2] t) { t = Relu(x) },
    else_branch = else_g () => (float[2] e) { e = Neg(x) }
  >
}
)"));
  std::vector<exec::TensorMap> taken = {{{"x", Tensor::from_vector<float>({-1, 2}, {2})}, {"c", Tensor::scalar<bool>(true)}}};
  // Branch tensors by their scoped names: "<If node (unnamed: its output)>/<branch>/<tensor>".
  CalibTable t = calibrate(g, {{"y/then_branch/t", kAct, -1, false}}, MemoryReader(taken), quiet("minmax"));
  EXPECT_EQ(t.tensors.at("y/then_branch/t").max, std::vector<float>{2.0f});  // the tap reaches into the branch
  std::vector<exec::TensorMap> not_taken = {{{"x", Tensor::from_vector<float>({-1, 2}, {2})}, {"c", Tensor::scalar<bool>(false)}}};
  try {
    calibrate(g, {{"y/then_branch/t", kAct, -1, false}, {"y/else_branch/e", kAct, -1, false}}, MemoryReader(not_taken), quiet("minmax"));
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("calibration target 'y/then_branch/t' was never produced"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("If/Loop branch"), std::string::npos) << e.what();
  }
  // A branch tensor by its plain name is not a tensor of the model.
  EXPECT_THROW(calibrate(g, {{"t", kAct, -1, false}}, MemoryReader(taken), quiet("minmax")), ModelError);
}

TEST(ChannelMeans, InputAndLinearLayerOutputAgainstDirectSums) {
  // y = x * w along axis 1 is linear: mean_y[c] = w[c] · mean_x[c]; x's means are summed here directly.
  Graph g = model();
  MemoryReader data(samples(5));
  auto means = channel_means(g, {{"x", 1}, {"y", 1}, {"missing", 1}}, data, quiet("minmax"));
  ASSERT_EQ(means.count("x"), 1u);
  ASSERT_EQ(means.count("y"), 1u);
  EXPECT_EQ(means.count("missing"), 0u);
  const float w[3] = {0.5f, -2.0f, 4.0f};
  constexpr double kMeanTol = 1e-6;
  for (int c = 0; c < 3; ++c) {
    double sum = 0.0;
    for (const auto& s : samples(5))
      for (int row = 0; row < 2; ++row) sum += s.at("x").data<float>()[row * 3 + c];
    const double mean = sum / 10.0;
    EXPECT_NEAR(means["x"][static_cast<size_t>(c)], mean, kMeanTol) << c;
    EXPECT_NEAR(means["y"][static_cast<size_t>(c)], w[c] * mean, kMeanTol) << c;
  }
}
