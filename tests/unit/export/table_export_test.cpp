// SPDX-License-Identifier: Apache-2.0
// Calibration-table exports: each format read back by an independent reader written here from the
// format's description, against scales computed by hand for a tiny model calibrated with minmax.
//
// Model: x [1,1,2,2] → Conv1 (W1 = [0.5, -2] per output channel) → Relu → r → Conv2 (W2 = [1, 0.25]) → z.
// One sample x = [1, -3, 2, 0.5]:
//   x: [-3, 2]                      amax 3
//   Conv1 out: ch0 0.5x, ch1 -2x → Relu r: [0, 6] (the Relu is folded: r is the quantized tensor)
//   z = r0 + 0.25 r1 = [0.5, 1.5, 1, 0.25]: [0, 1.5]
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ptq/export/table_export.h"
#include "testutil.h"

using namespace ptq;
using table_export::ExportInput;

namespace {

constexpr float kScaleTol = 1e-7f;  // relative: the writers compute in float, as here

struct Fixture {
  Graph graph;
  rewrite::QuantPlan plan;
  calib::CalibTable table;
};

Fixture make_fixture() {
  onnx::ModelProto m = test::parse_text_model(R"(
<ir_version: 8, opset_import: ["" : 13]>
g (float[1,1,2,2] x) => (float[1,1,2,2] z) {
  y = Conv <group = 1> (x, w1)
  r = Relu(y)
  z = Conv(r, w2)
}
)");
  test::add_initializer(m, "w1", Tensor::from_vector<float>({0.5f, -2.0f}, {2, 1, 1, 1}));
  test::add_initializer(m, "w2", Tensor::from_vector<float>({1.0f, 0.25f}, {1, 2, 1, 1}));
  m.mutable_graph()->mutable_node(0)->set_name("conv1");
  m.mutable_graph()->mutable_node(2)->set_name("conv2");
  Fixture f{build_graph(m), {}, {}};
  f.plan = rewrite::plan_quantization(f.graph, rewrite::QuantOptions{});
  test::MemoryReader data({{{"x", Tensor::from_vector<float>({1.0f, -3.0f, 2.0f, 0.5f}, {1, 1, 2, 2})}}});
  calib::CalibOptions opts;
  opts.method = "minmax";
  opts.progress = false;
  f.table = calib::calibrate(f.graph, rewrite::calib_targets(f.plan), data, opts);
  return f;
}

table_export::ExportedTable write(const std::string& format, const Fixture& f) {
  for (const auto& row : table_export::export_formats())
    if (row.name == format) return row.write(ExportInput{f.graph, f.plan, f.table});
  ADD_FAILURE() << "no format " << format;
  return {};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void expect_scale(float got, float want, const std::string& what) {
  EXPECT_NEAR(got, want, kScaleTol * want) << what;
}

}  // namespace

TEST(TableExport, TrtCacheOneHexScalePerActivation) {
  Fixture f = make_fixture();
  auto t = write("trt", f);
  std::vector<std::string> lines = lines_of(t.text);
  ASSERT_EQ(lines.size(), 4u) << t.text;
  EXPECT_EQ(lines[0], "TRT-8601-EntropyCalibration2");
  std::map<std::string, float> scales;
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].rfind(": ");
    ASSERT_NE(colon, std::string::npos) << lines[i];
    const std::string hex = lines[i].substr(colon + 2);
    ASSERT_EQ(hex.size(), 8u) << lines[i];
    ASSERT_EQ(hex.find_first_not_of("0123456789abcdef"), std::string::npos) << lines[i];
    const uint32_t bits = static_cast<uint32_t>(std::stoul(hex, nullptr, 16));
    float v;
    std::memcpy(&v, &bits, sizeof v);
    scales[lines[i].substr(0, colon)] = v;
  }
  EXPECT_EQ(t.entries, 3u);
  ASSERT_EQ(scales.size(), 3u);
  expect_scale(scales["x"], 3.0f / 127.0f, "x");
  expect_scale(scales["r"], 6.0f / 127.0f, "r");
  expect_scale(scales["z"], 1.5f / 127.0f, "z");
  // The bits of 3/127 = 0.023622047: 0x3cc18306, written most significant digit first.
  EXPECT_NE(t.text.find("x: 3cc18306\n"), std::string::npos) << t.text;
}

TEST(TableExport, NcnnWeightLinesThenInputLines) {
  Fixture f = make_fixture();
  auto t = write("ncnn", f);
  std::vector<std::string> lines = lines_of(t.text);
  ASSERT_EQ(lines.size(), 4u) << t.text;
  std::map<std::string, std::vector<float>> weights, blobs;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::istringstream in(lines[i]);
    std::string key;
    in >> key;
    std::vector<float> v;
    for (float s; in >> s;) v.push_back(s);
    const bool weight = key.find("_param_") != std::string::npos;
    EXPECT_EQ(weight, i < 2) << "weight lines come first: " << t.text;
    (weight ? weights : blobs)[key] = v;
  }
  EXPECT_EQ(t.entries, 2u);
  ASSERT_EQ(weights["conv1_param_0"].size(), 2u);
  expect_scale(weights["conv1_param_0"][0], 127.0f / 0.5f, "conv1 ch0");
  expect_scale(weights["conv1_param_0"][1], 127.0f / 2.0f, "conv1 ch1");
  ASSERT_EQ(weights["conv2_param_0"].size(), 1u);
  expect_scale(weights["conv2_param_0"][0], 127.0f / 1.0f, "conv2");
  ASSERT_EQ(blobs["conv1"].size(), 1u);
  expect_scale(blobs["conv1"][0], 127.0f / 3.0f, "conv1 input x");
  ASSERT_EQ(blobs["conv2"].size(), 1u);
  expect_scale(blobs["conv2"][0], 127.0f / 6.0f, "conv2 input r");
}

TEST(TableExport, MnnLayersWithQdqParameters) {
  Fixture f = make_fixture();
  auto t = write("mnn", f);
  auto doc = nlohmann::json::parse(t.text);
  EXPECT_EQ(doc["algo"][0]["type"], "QUANTIZE");
  const auto& layers = doc["algo"][0]["quantParams"]["layer"];
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(t.entries, 2u);
  const auto& l1 = layers[0];
  EXPECT_EQ(l1["opName"], "conv1");
  // x: uint8 over [-3, 2]: s = 5/255, z = round(3 / s) = 153, as int8 153 - 128 = 25.
  EXPECT_EQ(l1["input"][0]["name"], "x");
  expect_scale(l1["input"][0]["scales"][0].get<float>(), 5.0f / 255.0f, "x scale");
  EXPECT_EQ(l1["input"][0]["zeroPoint"], 25);
  EXPECT_EQ(l1["weight"][0]["name"], "w1");
  expect_scale(l1["weight"][0]["scales"][0].get<float>(), 0.5f / 127.0f, "w1[0]");
  expect_scale(l1["weight"][0]["scales"][1].get<float>(), 2.0f / 127.0f, "w1[1]");
  // The layer's output is the folded Relu's: r over [0, 6], z = 0 → -128.
  EXPECT_EQ(l1["output"][0]["name"], "r");
  expect_scale(l1["output"][0]["scales"][0].get<float>(), 6.0f / 255.0f, "r scale");
  EXPECT_EQ(l1["output"][0]["zeroPoint"], -128);
  EXPECT_EQ(layers[1]["output"][0]["name"], "z");
}

TEST(TableExport, RequestsAndErrors) {
  auto r = table_export::parse_export_request("trt:out/cache.txt");
  EXPECT_EQ(r.format, "trt");
  EXPECT_EQ(r.path, "out/cache.txt");
  auto usage = [](const std::string& spec) {
    try {
      table_export::parse_export_request(spec);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(usage("tensorrt:x").find("unknown --export-table format 'tensorrt'; expected one of: trt, ncnn, mnn"), std::string::npos);
  EXPECT_NE(usage("trt").find("expected FORMAT:FILE"), std::string::npos);
  EXPECT_NE(usage("trt:").find("expected FORMAT:FILE"), std::string::npos);
  EXPECT_THROW(table_export::check_export_paths({{"trt", "/nonexistent-folder/cache"}}), IoError);
}
