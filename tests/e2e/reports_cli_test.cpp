// SPDX-License-Identifier: Apache-2.0
// The CI-facing outputs, end to end: the "schema" of every --json document, `eval --target-cosine /
// --max-drop` as a gate (exit code 3), and --export-table on the main command and on `calibrate`.
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

constexpr int kSchema = 1;  // docs/report-schema.md

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// Conv + Relu + Conv + Relu + GlobalAveragePool + Flatten + Gemm with named nodes, 12 samples.
test::ClassifierFiles make_fixture() {
  return test::write_classifier(8, 6, 8, 4, 12, {"stem", "stem_relu", "pw", "pw_relu", "gap", "flat", "fc"});
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::vector<std::string> lines;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(ReportsCli, EveryJsonDocumentCarriesTheSchema) {
  auto f = make_fixture();
  auto main = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " --json -q -o " + q(f.dir / "q.onnx"));
  ASSERT_EQ(main.exit_code, 0) << main.err;
  EXPECT_EQ(nlohmann::json::parse(main.out)["schema"], kSchema);
  auto inspect = test::run_quantize("inspect " + q(f.model) + " --json");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(nlohmann::json::parse(inspect.out)["schema"], kSchema);
  auto eval = test::run_quantize("eval " + q(f.model) + " " + q(f.dir / "q.onnx") + " --data " + q(f.calib) + " --json -q");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out)["schema"], kSchema);
  auto sens = test::run_quantize("sensitivity " + q(f.model) + " --calib " + q(f.calib) + " --json -q");
  ASSERT_EQ(sens.exit_code, 0) << sens.err;
  EXPECT_EQ(nlohmann::json::parse(sens.out)["schema"], kSchema);
}

// a = [5,1,1,0,2,1], b = [5,1,3,0,2,3]: cosine 36 / sqrt(32 · 48) = 0.918559; labels [0, 1]: top-1 100 % vs 50 %.
TEST(ReportsCli, EvalGatesOnCosineAndAccuracy) {
  auto dir = test::fresh_dir();
  test::write_scaled_model(dir / "a.onnx", {1, 1, 1});
  test::write_scaled_model(dir / "b.onnx", {1, 1, 3});
  fs::create_directories(dir / "data");
  write_npy(dir / "data" / "x.npy", Tensor::from_vector<float>({5, 1, 1, 0, 2, 1}, {2, 3}));
  write_npy(dir / "labels.npy", Tensor::from_vector<int64_t>({0, 1}, {2}));
  const std::string base = "eval " + q(dir / "a.onnx") + " " + q(dir / "b.onnx") + " --data " + q(dir / "data") + " -q";
  auto miss = test::run_quantize(base + " --json --target-cosine 0.95");
  EXPECT_EQ(miss.exit_code, 3) << miss.err;
  EXPECT_FALSE(nlohmann::json::parse(miss.out)["met"].get<bool>());
  EXPECT_EQ(miss.err.rfind("error: --target-cosine not met on ", 0), 0u) << miss.err;
  EXPECT_NE(miss.err.find("output 'y' has cosine 0.918559 < 0.95"), std::string::npos) << miss.err;
  EXPECT_EQ(std::count(miss.err.begin(), miss.err.end(), '\n'), 1) << miss.err;
  auto met = test::run_quantize(base + " --json --target-cosine 0.9");
  EXPECT_EQ(met.exit_code, 0) << met.err;
  EXPECT_TRUE(nlohmann::json::parse(met.out)["met"].get<bool>());
  // 50 points lost: --max-drop 10 misses, 60 holds.
  const std::string labels = " --labels " + q(dir / "labels.npy");
  auto drop = test::run_quantize(base + labels + " --max-drop 10");
  EXPECT_EQ(drop.exit_code, 3) << drop.err;
  EXPECT_NE(drop.err.find("--max-drop not met on"), std::string::npos) << drop.err;
  EXPECT_NE(drop.err.find("50.00 points > 10"), std::string::npos) << drop.err;
  EXPECT_EQ(test::run_quantize(base + labels + " --max-drop 60").exit_code, 0);
  auto no_labels = test::run_quantize(base + " --max-drop 10");
  EXPECT_EQ(no_labels.exit_code, 2);
  EXPECT_NE(no_labels.err.find("--max-drop needs class labels"), std::string::npos) << no_labels.err;
}

// One trt entry per quantized activation (each has its QuantizeLinear in the written model), one ncnn and
// one mnn layer per quantized Conv/Gemm (each reads an int8 weight through a DequantizeLinear).
TEST(ReportsCli, ExportTablesOnePerQuantizedTensorOrLayer) {
  auto f = make_fixture();
  auto r = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " -o " + q(f.dir / "q.onnx") + " --export-table trt:" +
                              q(f.dir / "cache.txt") + " --export-table ncnn:" + q(f.dir / "net.table") + " --export-table mnn:" +
                              q(f.dir / "mnn.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = onnx_io::load_model((f.dir / "q.onnx").string()).proto;
  std::vector<std::string> trt = read_lines(f.dir / "cache.txt");
  ASSERT_FALSE(trt.empty());
  EXPECT_EQ(trt[0], "TRT-8601-EntropyCalibration2");
  EXPECT_EQ(static_cast<int>(trt.size()) - 1, count_ops(out, "QuantizeLinear"));
  std::vector<std::string> ncnn = read_lines(f.dir / "net.table");
  ASSERT_EQ(ncnn.size(), 6u);  // stem, pw, fc: weights then inputs
  EXPECT_EQ(ncnn[0].rfind("stem_param_0 ", 0), 0u);
  EXPECT_EQ(ncnn[3].rfind("stem ", 0), 0u);
  std::istringstream stem(ncnn[0]);
  std::string key;
  stem >> key;
  int scales = 0;
  for (float s; stem >> s; ++scales) EXPECT_GT(s, 0.0f);
  EXPECT_EQ(scales, 6);  // one per output channel
  std::ifstream mnn_file(f.dir / "mnn.json");
  auto mnn = nlohmann::json::parse(mnn_file);
  EXPECT_EQ(mnn["algo"][0]["quantParams"]["layer"].size(), 3u);
  EXPECT_NE(r.err.find("(3 entries)"), std::string::npos) << r.err;
  // calibrate writes the same tables.
  auto c = test::run_quantize("calibrate " + q(f.model) + " --calib " + q(f.calib) + " --table " + q(f.dir / "t.json") +
                              " --export-table ncnn:" + q(f.dir / "c.table"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(read_lines(f.dir / "c.table").size(), 6u);
}

TEST(ReportsCli, ExportTableErrors) {
  auto f = make_fixture();
  const std::string base = q(f.model) + " --calib " + q(f.calib) + " -o " + q(f.dir / "q.onnx");
  auto unknown = test::run_quantize(base + " --export-table onnx:" + q(f.dir / "x"));
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown --export-table format 'onnx'; expected one of: trt, ncnn, mnn"), std::string::npos) << unknown.err;
  auto no_file = test::run_quantize(base + " --export-table trt");
  EXPECT_EQ(no_file.exit_code, 2);
  EXPECT_NE(no_file.err.find("expected FORMAT:FILE"), std::string::npos) << no_file.err;
  auto no_dir = test::run_quantize(base + " --export-table trt:" + q(f.dir / "missing" / "cache.txt"));
  EXPECT_EQ(no_dir.exit_code, 1);
  EXPECT_NE(no_dir.err.find("cannot write " + (f.dir / "missing" / "cache.txt").string()), std::string::npos) << no_dir.err;
  auto no_html_dir = test::run_quantize(base + " --html " + q(f.dir / "missing" / "r.html"));
  EXPECT_EQ(no_html_dir.exit_code, 1);
  EXPECT_NE(no_html_dir.err.find("cannot write " + (f.dir / "missing" / "r.html").string()), std::string::npos) << no_html_dir.err;
  EXPECT_FALSE(fs::exists(f.dir / "q.onnx"));  // refused before any work
}

// The tables depend on the calibration only: the same bytes whatever --threads.
TEST(ReportsCli, ExportTablesSameBytesWhateverThreads) {
  auto f = make_fixture();
  for (const char* threads : {"1", "2"}) {
    const fs::path dir = f.dir / threads;
    fs::create_directories(dir);
    auto r = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " -q --threads " + threads + " -o " + q(dir / "q.onnx") +
                                " --export-table trt:" + q(dir / "t") + " --export-table ncnn:" + q(dir / "n") +
                                " --export-table mnn:" + q(dir / "m"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (const char* file : {"t", "n", "m"}) {
    EXPECT_FALSE(test::read_bytes(f.dir / "1" / file).empty()) << file;
    EXPECT_EQ(test::read_bytes(f.dir / "1" / file), test::read_bytes(f.dir / "2" / file)) << file;
  }
}
