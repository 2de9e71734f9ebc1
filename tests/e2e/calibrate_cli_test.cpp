// SPDX-License-Identifier: Apache-2.0
// `quantize calibrate`: the table it writes, the --method check against the observer table, exit codes.
#include "ptq/calib/calibrator.h"
#include "ptq/calib/observer.h"
#include "ptq/ir/npy.h"
#include "ptq/quant/scale.h"
#include "testutil.h"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

// y = Relu(x * 2 - 1); samples x in [0, 1).
fs::path write_model_and_data(fs::path& data) {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[N,4] x) => (float[N,4] y) <float two = {2.0}, float one = {1.0}> {
  d = Mul(x, two)
  s = Sub(d, one)
  y = Relu(s)
}
)");
  fs::path dir = test::fresh_dir();
  fs::path model = dir / "m.onnx";
  test::write_model(m, model);
  data = dir / "data";
  for (int i = 0; i < 4; ++i) {
    fs::create_directories(data / std::to_string(i));
    write_npy(data / std::to_string(i) / "x.npy", test::random_tensor({2, 4}, static_cast<uint32_t>(i), 0.0f, 1.0f));
  }
  return model;
}

}  // namespace

TEST(CalibrateCli, WritesTheTableForEveryMethod) {
  fs::path data;
  fs::path model = write_model_and_data(data);
  float xmin = 1, xmax = 0;
  for (int i = 0; i < 4; ++i)
    for (float v : test::random_tensor({2, 4}, static_cast<uint32_t>(i), 0.0f, 1.0f).to_vector<float>()) {
      xmin = std::min(xmin, v);
      xmax = std::max(xmax, v);
    }
  for (const auto& e : calib::observer_table()) {
    fs::path table = data.parent_path() / (std::string(e.name) + ".json");
    auto r = test::run_quantize("-q calibrate " + model.string() + " --calib " + data.string() + " --table " + table.string() +
                                " --method " + e.name);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    calib::CalibTable t = calib::load_table(table);
    EXPECT_EQ(t.method, e.name);
    EXPECT_EQ(t.samples, 4u);
    EXPECT_EQ(t.model, model.string());
    for (const char* name : {"x", "d", "y"}) EXPECT_EQ(t.tensors.count(name), 1u) << name;
    EXPECT_EQ(t.tensors.count("s"), 0u);  // the Relu folds into the Sub's output range
    EXPECT_EQ(t.tensors.at("x").min[0], xmin);
    EXPECT_EQ(t.tensors.at("d").max[0], 2 * xmax);
    if (std::string(e.name) == "minmax") {
      QParams p = compute_qparams(Range{std::max(0.0f, 2 * xmin - 1), 2 * xmax - 1}, QuantSpec{QType::UInt8, false, false});
      EXPECT_EQ(t.tensors.at("y").qparams.scale, p.scale);
      EXPECT_EQ(t.tensors.at("y").qparams.zero_point, p.zero_point);
    }
  }
}

TEST(CalibrateCli, ErrorsAndUsage) {
  fs::path data;
  fs::path model = write_model_and_data(data);
  fs::path table = data.parent_path() / "t.json";
  auto r = test::run_quantize("calibrate " + model.string() + " --calib " + data.string() + " --table " + table.string() + " --method kll");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown calibration method 'kll'; expected one of: minmax, kl"), std::string::npos) << r.err;
  r = test::run_quantize("calibrate " + model.string() + " --calib " + (data / "nope").string() + " --table " + table.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such file or folder"), std::string::npos) << r.err;
  // A model with no quantizable op: nothing to calibrate, no table written.
  onnx::ModelProto plain = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[N,4] x) => (float[N,4] y) {
  y = Neg(x)
}
)");
  test::write_model(plain, data.parent_path() / "plain.onnx");
  r = test::run_quantize("calibrate " + (data.parent_path() / "plain.onnx").string() + " --calib " + data.string() + " --table " + table.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(table));
}
