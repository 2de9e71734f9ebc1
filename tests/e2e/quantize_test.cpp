// SPDX-License-Identifier: Apache-2.0
// The main command, end to end: a small conv net quantized from generated calibration samples.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <set>

#include "ptq/exec/executor.h"
#include "ptq/ir/npy.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/report/evaluator.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

constexpr double kMinCosineInt8 = 0.99;  // FP32 vs static INT8 output on held-out samples

using Fixture = test::ClassifierFiles;

// Conv(3x3) + Relu + Conv(1x1) + GlobalAveragePool + Gemm: a small classifier, with 40 samples.
Fixture make_fixture() { return test::write_classifier(12, 8, 16, 5, 40); }

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// x → c1 → … → cN (Conv i reads weights[i-1], 2 channels, 4x4); `tail` (text-syntax lines reading cN)
// ends in y, or with no tail the last Conv writes y.
onnx::ModelProto conv_chain(const std::vector<std::string>& weights, const std::string& tail = "") {
  std::string body;
  for (size_t i = 0; i < weights.size(); ++i) {
    const std::string in = i == 0 ? "x" : "c" + std::to_string(i);
    const std::string out = i + 1 == weights.size() && tail.empty() ? "y" : "c" + std::to_string(i + 1);
    body += "  " + out + " = Conv (" + in + ", " + weights[i] + ")\n";
  }
  return test::parse_text_model("<ir_version: 8, opset_import: [\"\" : 13]>\nchain (float[1,2,4,4] x) => (float[1,2,4,4] y) {\n" +
                                body + tail + "}\n");
}

// dir/stem.onnx: conv_chain of 8 1x1 Conv over 2 channels, c1 = diag(g1)·x, c2 = diag(g2)·c1, then
// identities; dir/calib: 20 samples of x in [-1, 1).
void write_stem(const fs::path& dir, std::array<float, 2> g1, std::array<float, 2> g2) {
  onnx::ModelProto m = conv_chain({"w1", "w2", "id", "id", "id", "id", "id", "id"});
  test::add_initializer(m, "w1", Tensor::from_vector<float>({g1[0], 0.0f, 0.0f, g1[1]}, {2, 2, 1, 1}));
  test::add_initializer(m, "w2", Tensor::from_vector<float>({g2[0], 0.0f, 0.0f, g2[1]}, {2, 2, 1, 1}));
  test::add_initializer(m, "id", Tensor::from_vector<float>({1.0f, 0.0f, 0.0f, 1.0f}, {2, 2, 1, 1}));
  test::write_model(m, dir / "stem.onnx");
  for (int i = 0; i < 20; ++i) {
    fs::create_directories(dir / "calib" / std::to_string(100 + i));
    write_npy(dir / "calib" / std::to_string(100 + i) / "x.npy", test::random_tensor({1, 2, 4, 4}, 300 + static_cast<uint32_t>(i), -1.0f, 1.0f));
  }
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

}  // namespace

TEST(QuantizeCli, StaticInt8EndToEnd) {
  Fixture f = make_fixture();
  fs::path out = f.dir / "net.int8.onnx";
  auto r = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " -o " + q(out) + " --json --report " + q(f.dir / "report.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mode"], "static");
  EXPECT_EQ(j["method"], "percentile");
  EXPECT_EQ(j["calibration"]["samples"], 36);  // 40 minus 4 held out (a tenth)
  EXPECT_EQ(j["evaluation"]["samples"], 4);
  EXPECT_TRUE(j["evaluation"]["held_out"].get<bool>());
  EXPECT_GE(j["evaluation"]["outputs"][0]["cosine"].get<double>(), kMinCosineInt8);
  EXPECT_EQ(j["nodes"]["folded"], 2);  // both Relu folded into their Conv
  EXPECT_GT(j["bytes"]["quantized"].get<double>(), 0);
  EXPECT_EQ(nlohmann::json::parse(test::read_bytes(f.dir / "report.json")), j);

  onnx::ModelProto qm = onnx_io::load_model(out).proto;
  EXPECT_EQ(count_ops(qm, "Conv"), 2);
  EXPECT_EQ(count_ops(qm, "Relu"), 0);
  EXPECT_GT(count_ops(qm, "QuantizeLinear"), 0);
  EXPECT_GT(count_ops(qm, "DequantizeLinear"), 0);
  int int8_weights = 0, int32_biases = 0;
  for (const auto& t : qm.graph().initializer()) {
    int8_weights += t.data_type() == onnx::TensorProto::INT8 && t.dims_size() >= 2;
    int32_biases += t.data_type() == onnx::TensorProto::INT32;
  }
  EXPECT_EQ(int8_weights, 3);
  EXPECT_EQ(int32_biases, 3);
  // The quantized model runs in ptq's executor and stays close to FP32 on a fresh sample.
  Graph fg = build_graph(onnx_io::load_model(f.model).proto), qg = build_graph(qm);
  Tensor x = test::random_tensor({1, 3, 12, 12}, 999, -1.0f, 1.0f);
  report::ErrorStats e;
  e.add(exec::Executor(fg).run({{"x", x}}).at("y"), exec::Executor(qg).run({{"x", x}}).at("y"));
  EXPECT_GE(e.cosine(), kMinCosineInt8);
}

TEST(QuantizeCli, DeterministicAndTableRoundTrip) {
  Fixture f = make_fixture();
  std::string common = q(f.model) + " --calib " + q(f.calib) + " -q --eval-samples 0 --method minmax";
  ASSERT_EQ(test::run_quantize(common + " -o " + q(f.dir / "a.onnx") + " --table " + q(f.dir / "t.json")).exit_code, 0);
  ASSERT_EQ(test::run_quantize(common + " -o " + q(f.dir / "b.onnx")).exit_code, 0);
  EXPECT_EQ(test::read_bytes(f.dir / "a.onnx"), test::read_bytes(f.dir / "b.onnx"));
  auto r = test::run_quantize(q(f.model) + " --load-table " + q(f.dir / "t.json") + " -q --eval-samples 0 -o " + q(f.dir / "c.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // -q: warnings and errors only, no summary
  EXPECT_EQ(test::read_bytes(f.dir / "a.onnx"), test::read_bytes(f.dir / "c.onnx"));
}

TEST(QuantizeCli, DynamicNeedsNoData) {
  Fixture f = make_fixture();
  auto r = test::run_quantize(q(f.model) + " --mode dynamic -q --json -o " + q(f.dir / "d.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mode"], "dynamic");
  onnx::ModelProto dm = onnx_io::load_model(f.dir / "d.onnx").proto;
  EXPECT_EQ(count_ops(dm, "QuantizeLinear"), 0);
  EXPECT_EQ(count_ops(dm, "DequantizeLinear"), 3);  // one per weight
}

TEST(QuantizeCli, FloatFirstAndLastLayers) {
  Fixture f = make_fixture();
  auto r = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " --float-first 1 --float-last 1 --json -o " + q(f.dir / "e.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("float: unnamed node (Conv) writing 'c1': excluded by --float-first 1"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["nodes"]["quantized"], 1);  // c2 (r2 folded into it); Gemm and what leads to it float
  onnx::ModelProto em = onnx_io::load_model(f.dir / "e.onnx").proto;
  int int8_weights = 0;
  for (const auto& t : em.graph().initializer()) int8_weights += t.data_type() == onnx::TensorProto::INT8 && t.dims_size() >= 2;
  EXPECT_EQ(int8_weights, 1);  // w2
  // A model already within the tolerance: nothing promoted.
  auto quiet = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " --auto-float --json -o " + q(f.dir / "a.onnx"));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_TRUE(nlohmann::json::parse(quiet.out)["precision"]["met"].get<bool>());
  EXPECT_EQ(nlohmann::json::parse(quiet.out)["precision"]["layers"].size(), 0u);
  EXPECT_EQ(nlohmann::json::parse(quiet.out)["precision"]["attempts"].size(), 1u);
  auto bad = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " --float-first -1 -o " + q(f.dir / "x.onnx"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--float-first: expected a whole number >= 0, got '-1'"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(f.dir / "x.onnx"));
}

// c1's channels differ in range by 10^6, so per-tensor 8 bits wipe out channel 1, which c2 then
// amplifies; c3..c8 are identities. The report points at c2 (layer 2 of 8); --float-first 2 fixes it.
TEST(QuantizeCli, HintPointsAtTheStemWhereTheErrorStarts) {
  fs::path dir = test::fresh_dir();
  write_stem(dir, {1000.0f, 0.001f}, {0.0001f, 1000.0f});
  const std::string common = q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " --json -o " + q(dir / "s.onnx");
  auto r = test::run_quantize(common);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_LT(j["evaluation"]["outputs"][0]["cosine"].get<double>(), 0.5);
  ASSERT_TRUE(j.contains("hint")) << r.err;
  EXPECT_NE(j["hint"].get<std::string>().find("tensor 'c2'"), std::string::npos) << j["hint"];
  EXPECT_NE(j["hint"].get<std::string>().find("compute layer 2 of 8 from the input): try --float-first 2"), std::string::npos) << j["hint"];
  EXPECT_NE(r.err.find("hint: output cosine"), std::string::npos);
  // quantize eval gives the same hint from the two models alone.
  auto e = test::run_quantize("eval " + q(dir / "stem.onnx") + " " + q(dir / "s.onnx") + " --data " + q(dir / "calib") + " --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NE(nlohmann::json::parse(e.out).value("hint", "").find("try --float-first 2"), std::string::npos) << e.out;

  r = test::run_quantize(common + " --float-first 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_GE(j["evaluation"]["outputs"][0]["cosine"].get<double>(), kMinCosineInt8);
  EXPECT_FALSE(j.contains("hint"));
  const std::string fixed = test::read_bytes(dir / "s.onnx");

}

// A milder stem: c1's channels differ in range by 10^3 (100 vs 0.1): 8 bits wipe out channel 1, 16 bits
// hold it; c2 brings both channels back to one range. --target-cosine finds the layers to take out of
// 8 bits itself.
TEST(QuantizeCli, TargetCosinePromotesTheStem) {
  fs::path dir = test::fresh_dir();
  write_stem(dir, {100.0f, 0.1f}, {0.01f, 10.0f});
  const std::string common = q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " --json";
  for (const char* fallback : {"int16", "float"}) {
    auto r = test::run_quantize(common + " --target-cosine 0.99 --fallback " + fallback + " -o " + q(dir / (std::string(fallback) + ".onnx")));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_GE(j["evaluation"]["outputs"][0]["cosine"].get<double>(), 0.99) << fallback;
    const auto& p = j["precision"];
    EXPECT_TRUE(p["met"].get<bool>());
    EXPECT_EQ(p["fallback"], fallback);
    ASSERT_GE(p["layers"].size(), 1u);
    EXPECT_LE(p["layers"].size(), 2u);  // c1's output (read by c2) is the one tensor 8 bits cannot hold
    for (const auto& l : p["layers"]) EXPECT_EQ(l["precision"], fallback);
    // 8 Conv of 64 MACs each; the promoted layers and their neighbours leave 8 bits, the rest stay.
    EXPECT_EQ(p["macs"]["total"], 8 * 64);
    EXPECT_GE(p["int8_mac_share"].get<double>(), 0.5) << r.out;
    EXPECT_LT(p["int8_mac_share"].get<double>(), 1.0);
    EXPECT_FALSE(p["attempts"][0]["meets"].get<bool>());  // every layer 8-bit first
    EXPECT_FALSE(p["attempts"][0].contains("cosine_dithered"));  // judged on dithered samples only when it met
    for (const auto& a : p["attempts"])
      if (a["meets"].get<bool>()) {
        ASSERT_TRUE(a.contains("cosine_dithered")) << a.dump();
        EXPECT_LE(a["cosine"].get<double>(), a["cosine_dithered"].get<double>());  // the lower of the two
      }
    EXPECT_NE(r.err.find("precision: --target-cosine 0.99 met"), std::string::npos) << r.err;
    // ONNX Runtime's CPU provider (the default target) runs 16-bit layers in float between Q/DQ: said once
    const bool says = r.err.find("--target ort-cpu (the default) has no 16-bit kernels: it runs the ") != std::string::npos;
    EXPECT_EQ(says, std::string(fallback) == "int16") << r.err;
  }
  {  // so does OpenVINO's CPU plugin (the target table's column, not the name), when int16 is asked for
    auto r = test::run_quantize(common + " --target-cosine 0.99 --target openvino --fallback int16 -o " + q(dir / "openvino.onnx"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("--target openvino has no 16-bit kernels"), std::string::npos) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["precision"]["fallback"], "int16");
  }
  for (const char* target : {"ort-cpu", "openvino"}) {  // named without --fallback: promoted layers become float
    auto r = test::run_quantize(common + " --target-cosine 0.99 --target " + target + " -o " + q(dir / "named.onnx"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["precision"]["fallback"], "float") << target;
    EXPECT_EQ(r.err.find("has no 16-bit kernels"), std::string::npos) << r.err;
  }
  // Same bytes whatever the thread count.
  auto a = test::run_quantize(common + " --target-cosine 0.99 --threads 1 -o " + q(dir / "t1.onnx"));
  auto b = test::run_quantize(common + " --target-cosine 0.99 --threads 2 -o " + q(dir / "t2.onnx"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(test::read_bytes(dir / "t1.onnx"), test::read_bytes(dir / "t2.onnx"));
  EXPECT_EQ(test::read_bytes(dir / "t1.onnx"), test::read_bytes(dir / "int16.onnx"));
  // With bias correction the candidates are simulated with their own corrected biases: still met.
  auto bc = test::run_quantize(common + " --target-cosine 0.99 --bias-correction -o " + q(dir / "bc.onnx"));
  ASSERT_EQ(bc.exit_code, 0) << bc.err;
  EXPECT_TRUE(nlohmann::json::parse(bc.out)["precision"]["met"].get<bool>());
  EXPECT_GE(nlohmann::json::parse(bc.out)["evaluation"]["outputs"][0]["cosine"].get<double>(), 0.99);
  // --auto-float is --target-cosine 0.99 --fallback float.
  auto af = test::run_quantize(common + " --auto-float -o " + q(dir / "af.onnx"));
  ASSERT_EQ(af.exit_code, 0) << af.err;
  EXPECT_EQ(test::read_bytes(dir / "af.onnx"), test::read_bytes(dir / "float.onnx"));

  // A tolerance only near-float plans reach: promoting all 8 layers leaves nothing to quantize (no valid
  // plan), so the search bisects below that for the shortest prefix that meets it.
  auto tight = test::run_quantize(common + " --target-cosine 0.999999 --fallback float -o " + q(dir / "tight.onnx"));
  ASSERT_EQ(tight.exit_code, 0) << tight.err;
  const nlohmann::json tj = nlohmann::json::parse(tight.out);
  const auto& tp = tj["precision"];
  EXPECT_TRUE(tp["met"].get<bool>());
  EXPECT_LT(tp["layers"].size(), 8u);
  bool capped = false;
  for (const auto& a : tp["attempts"])
    capped |= a["promoted"] == 8 && a.value("note", "").find("nothing to quantize") != std::string::npos;
  EXPECT_TRUE(capped) << tight.out;
  EXPECT_NE(tight.err.find("precision: --target-cosine 0.999999 met"), std::string::npos) << tight.err;  // not "1"
  // Usage errors: no evaluation samples; --max-drop without labels.
  auto no_eval = test::run_quantize(common + " --target-cosine 0.99 --eval-samples 0 -o " + q(dir / "x.onnx"));
  EXPECT_EQ(no_eval.exit_code, 2) << no_eval.err;
  EXPECT_NE(no_eval.err.find("need evaluation samples"), std::string::npos) << no_eval.err;
  auto no_labels = test::run_quantize(common + " --max-drop 0.5 -o " + q(dir / "x.onnx"));
  EXPECT_EQ(no_labels.exit_code, 2) << no_labels.err;
  EXPECT_NE(no_labels.err.find("--max-drop needs a labelled evaluation set"), std::string::npos) << no_labels.err;
  EXPECT_FALSE(fs::exists(dir / "x.onnx"));

  // quantize sensitivity: every layer, worst first; the stem's layers lead.
  auto s = test::run_quantize("sensitivity " + q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " --json");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  auto sj = nlohmann::json::parse(s.out);
  ASSERT_EQ(sj["layers"].size(), 8u);
  EXPECT_EQ(sj["samples"], 2);  // the held-out tenth of 20
  const std::string first = sj["layers"][0]["label"];
  EXPECT_TRUE(first == "Conv writing c1" || first == "Conv writing c2") << first;
  EXPECT_LT(sj["layers"][0]["only"]["cosine"].get<double>(), 0.9);
  EXPECT_GT(sj["layers"][7]["only"]["cosine"].get<double>(), 0.999);
  EXPECT_EQ(sj["layers"][0]["macs"], 64);
  for (size_t k = 1; k < sj["layers"].size(); ++k)
    EXPECT_LE(sj["layers"][k - 1]["only"]["snr_db"].get<double>(), sj["layers"][k]["only"]["snr_db"].get<double>());
  EXPECT_NE(s.err.find("rank layer"), std::string::npos) << s.err;
  EXPECT_EQ(sj["equalized_inputs"], 0);

  // --equalize ranks the equalized model, as the main command quantizes it: c1's channels (1000x apart)
  // move into w1 and w2, so c1 and c2 no longer cost what they did. Main-command-only options are refused
  // (those of the shared option groups, and the main command's own that the parser lets follow a subcommand).
  auto e = test::run_quantize("sensitivity " + q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " --equalize --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto ej = nlohmann::json::parse(e.out);
  EXPECT_GE(ej["equalized_inputs"].get<int>(), 1);
  EXPECT_GT(ej["quantized"]["cosine"].get<double>(), sj["quantized"]["cosine"].get<double>() + 0.05) << e.out;
  EXPECT_GT(ej["layers"][0]["only"]["cosine"].get<double>(), 0.99) << e.out;
  EXPECT_NE(e.err.find("channels equalized on 0 Conv output(s) and "), std::string::npos) << e.err;
  for (const char* flag : {"--bias-correction", "--auto-float", "--adaround", "--target-cosine"}) {
    auto refused = test::run_quantize("sensitivity " + q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " " + flag +
                                      (std::string(flag) == "--target-cosine" ? " 0.99" : ""));
    EXPECT_EQ(refused.exit_code, 2) << flag;
    EXPECT_NE(refused.err.find(std::string(flag) + " applies to the main command only"), std::string::npos) << refused.err;
  }
  for (const char* flag : {"--auto-float", "--bias-correction"}) {  // calibrate writes a table: neither changes it
    auto cal = test::run_quantize("calibrate " + q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " " + flag + " --table " +
                                  q(dir / "t.json"));
    EXPECT_EQ(cal.exit_code, 2) << cal.err;
    EXPECT_EQ(cal.err, "error: " + std::string(flag) + " applies to the main command only, not to `quantize calibrate`\n");
    EXPECT_FALSE(fs::exists(dir / "t.json"));
  }
}

// With --adaround the search first tries what --adaround alone writes; when that misses the tolerance
// it learns the rounding again, on FP32 inputs (so that it holds whichever layers above are promoted),
// and evaluates every candidate with it; the written model is the chosen candidate:
// its 8-bit layers carry that rounding (the promoted ones their float weights), and its evaluation gives
// the cosine the search measured for it (the simulator and the executor agree to float noise).
TEST(QuantizeCli, TargetCosineWithAdaRoundWritesWhatTheSearchEvaluated) {
  constexpr double kSimulatorVsExecutor = 1e-5;
  fs::path dir = test::fresh_dir();
  write_stem(dir, {100.0f, 0.1f}, {0.01f, 10.0f});
  auto r = test::run_quantize(q(dir / "stem.onnx") + " --calib " + q(dir / "calib") +
                              " --json --target-cosine 0.99 --adaround 50 -o " + q(dir / "a.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& p = j["precision"];
  ASSERT_TRUE(p["met"].get<bool>()) << r.out;
  const size_t promoted = p["layers"].size();
  ASSERT_GE(promoted, 1u);
  ASSERT_LT(promoted, 8u);
  EXPECT_EQ(j["adaround"]["inputs"], "float");
  // The 8 Conv: rounded and kept, left alone (c3..c8 share one weight), or promoted with their float weights.
  const auto& a = j["adaround"];
  EXPECT_EQ(a["layers"].size() + a["skipped"].size() + promoted, 8u) << r.err;
  std::set<std::string> promoted_names;
  for (const auto& l : p["layers"]) promoted_names.insert(l["name"].get<std::string>());
  for (const auto& l : a["layers"]) {
    std::string name = l["name"];
    name.erase(std::remove(name.begin(), name.end(), '\''), name.end());  // "Conv writing 'c2'"
    EXPECT_FALSE(promoted_names.count(name)) << name;
  }
  EXPECT_NE(r.err.find("learned on FP32 inputs for the precision search"), std::string::npos) << r.err;
  double chosen = -1.0;
  for (const auto& a : p["attempts"])
    if (a["meets"].get<bool>() && a["promoted"] == promoted) chosen = a["cosine"].get<double>();
  EXPECT_NEAR(j["evaluation"]["outputs"][0]["cosine"].get<double>(), chosen, kSimulatorVsExecutor) << r.out;
  // The first attempt: what --adaround alone writes (rounding on the quantized model's inputs), noted.
  EXPECT_EQ(p["attempts"][0]["promoted"], 0);
  EXPECT_NE(p["attempts"][0].value("note", "").find("as --adaround alone"), std::string::npos) << p["attempts"][0].dump();

  // A tolerance that model meets: it is written as it is, byte for byte what --adaround alone writes.
  const std::string common = q(dir / "stem.onnx") + " --calib " + q(dir / "calib") + " --adaround 50 -q";
  auto plain = test::run_quantize(common + " -o " + q(dir / "plain.onnx"));
  auto loose = test::run_quantize(common + " --json --target-cosine 0.6 -o " + q(dir / "loose.onnx"));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  ASSERT_EQ(loose.exit_code, 0) << loose.err;
  const auto lj = nlohmann::json::parse(loose.out);
  EXPECT_EQ(lj["precision"]["attempts"].size(), 1u);
  EXPECT_TRUE(lj["precision"]["met"].get<bool>());
  EXPECT_EQ(lj["adaround"]["inputs"], "quantized");
  EXPECT_EQ(test::read_bytes(dir / "loose.onnx"), test::read_bytes(dir / "plain.onnx"));
}

// A tolerance no plan reaches (every layer of the random CNN adds error; promoting all five leaves
// nothing to quantize): exit 3, the best model found still written, one error line.
TEST(QuantizeCli, TargetCosineNoPlanReachesExits3) {
  Fixture f = make_fixture();
  auto r = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " --json --target-cosine 1 -o " + q(f.dir / "never.onnx"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(fs::exists(f.dir / "never.onnx"));
  EXPECT_FALSE(nlohmann::json::parse(r.out)["precision"]["met"].get<bool>());
  EXPECT_NE(r.err.find("error: --target-cosine not met on"), std::string::npos) << r.err;
  // With -q, that error line is all stderr says.
  auto quiet = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " -q --target-cosine 1 -o " + q(f.dir / "never.onnx"));
  EXPECT_EQ(quiet.exit_code, 3);
  EXPECT_EQ(quiet.err.rfind("error: --target-cosine not met on", 0), 0u) << quiet.err;
  EXPECT_EQ(std::count(quiet.err.begin(), quiet.err.end(), '\n'), 1) << quiet.err;
}

TEST(QuantizeCli, BiasCorrectionStaticAndDynamic) {
  Fixture f = make_fixture();
  for (const char* mode : {"static", "dynamic"}) {
    auto r = test::run_quantize(q(f.model) + " --calib " + q(f.calib) + " --bias-correction --mode " + mode + " --json -o " +
                                q(f.dir / (std::string(mode) + ".onnx")));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["nodes"]["biases_corrected"], 3) << mode;  // both Conv and the Gemm
    EXPECT_GE(j["evaluation"]["outputs"][0]["cosine"].get<double>(), kMinCosineInt8) << mode;
  }
  auto bad = test::run_quantize(q(f.model) + " --mode dynamic --bias-correction -o " + q(f.dir / "x.onnx"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--bias-correction needs calibration data (--calib DIR)"), std::string::npos) << bad.err;
}

TEST(QuantizeCli, BadInputsGiveOneLineErrors) {
  Fixture f = make_fixture();
  auto expect = [&](const std::string& args, int code, const std::string& fragment) {
    auto r = test::run_quantize(args);
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(fragment), std::string::npos) << args << "\n" << r.err;
  };
  expect(q(f.model) + " --calib " + q(f.calib), 2, "no output model");
  expect(q(f.model) + " -o " + q(f.dir / "o.onnx"), 2, "needs calibration data");
  expect(q(f.model) + " --calib " + q(f.calib) + " -o " + q(f.model), 2, "is the input model");
  expect(q(f.model) + " --calib " + q(f.dir / "nope") + " -o " + q(f.dir / "o.onnx"), 1, "nope: no such file or folder");
  expect(q(f.model) + " --calib " + q(f.calib) + " -o " + q(f.dir / "no" / "o.onnx"), 1, "does not exist");
  expect(q(f.model) + " --calib " + q(f.calib) + " --method kll -o " + q(f.dir / "o.onnx"), 2, "kll");
  expect(q(f.model) + " --calib " + q(f.calib) + " --labels " + q(f.dir / "l.npy") + " -o " + q(f.dir / "o.onnx"), 2, "--eval-data");
  expect(q(f.model) + " --calib " + q(f.calib) + " --exclude '*' -o " + q(f.dir / "o.onnx"), 2, "--exclude matches every");
  expect(q(f.model) + " --calib " + q(f.calib) + " --op-types LSTM -o " + q(f.dir / "o.onnx"), 2, "LSTM");
  EXPECT_FALSE(fs::exists(f.dir / "o.onnx"));
  // Wrong sample shape: the error names the file and the input.
  fs::path bad = f.dir / "bad";
  fs::create_directories(bad / "000");
  write_npy(bad / "000" / "x.npy", test::random_tensor({1, 3, 10, 10}, 1));
  expect(q(f.model) + " --calib " + q(bad) + " -o " + q(f.dir / "o.onnx"), 1, "x.npy: input 'x': expected shape [1,3,12,12], got [1,3,10,10]");
  EXPECT_FALSE(fs::exists(f.dir / "o.onnx"));
}

namespace {
report::ErrorStats with_cosine(double c) {
  report::ErrorStats e;
  e.dot = c;
  e.ref_sq = e.cand_sq = 1.0;
  e.count = 1;
  return e;
}
}  // namespace

// x → c1 … c8 (Conv) → y = Mul(c8, c8): compute layers 1..8, the Mul 8 from the input and 0 before the output.
TEST(PrecisionHint, StemTailJumpOrNothing) {
  onnx::ModelProto m = conv_chain(std::vector<std::string>(8, "w"), "  y = Mul (c8, c8)\n");
  test::add_initializer(m, "w", test::random_tensor({2, 2, 1, 1}, 7));
  Graph g = build_graph(m);
  auto hint = [&](double out, const std::map<std::string, double>& tensors, const rewrite::QuantOptions& o = {},
                  double own_snr_db = 40.0, const std::string& method = "kl") {
    report::EvalResult r;
    r.outputs.push_back({"y", with_cosine(out)});
    for (const auto& [name, c] : tensors) {
      report::ErrorStats own;  // own SNR = 10 log10(ref_sq / diff_sq)
      own.ref_sq = 1.0;
      own.diff_sq = std::pow(10.0, -own_snr_db / 10.0);
      r.tensors.push_back({name, with_cosine(c), true, own});
    }
    return pipeline::precision_hint(g, o, method, r);
  };
  const std::map<std::string, double> stem = {{"c1", 0.999}, {"c2", 0.95}, {"c3", 0.94}, {"y", 0.9}};
  EXPECT_NE(hint(0.9, stem).find("tensor 'c2' (cosine 0.9500, compute layer 2 of 8 from the input): try --float-first 2"), std::string::npos)
      << hint(0.9, stem);
  EXPECT_EQ(hint(0.995, stem), "");  // the outputs are fine
  rewrite::QuantOptions first_set;
  first_set.float_first = 1;
  EXPECT_EQ(hint(0.9, stem, first_set), "");  // the user chose already; c2 is not near the output

  const std::map<std::string, double> tail = {{"c6", 0.999}, {"c7", 0.999}, {"c8", 0.998}, {"y", 0.9}};
  EXPECT_NE(hint(0.9, tail).find("tensor 'y' (cosine 0.9000, 0 compute layers before the output): try --float-last 1"), std::string::npos)
      << hint(0.9, tail);
  const std::map<std::string, double> gradual = {{"c6", 0.995}, {"c7", 0.992}, {"c8", 0.989}, {"y", 0.985}};
  EXPECT_EQ(hint(0.985, gradual), "");  // accumulated, no jump: nothing to keep float

  // c2's own rounding and clipping already lose most: another method, not float layers.
  EXPECT_NE(hint(0.9, stem, {}, 15.0).find("whose own quantization loses most (own SNR 15.0 dB: the kl range fits it badly): try --method percentile"),
            std::string::npos) << hint(0.9, stem, {}, 15.0);
  // A loaded table (no method this run): no method to name, and no float layers for a range problem.
  EXPECT_NE(hint(0.9, stem, {}, 15.0, "").find("(own SNR 15.0 dB): its range fits it badly: calibrate again with another --method"),
            std::string::npos) << hint(0.9, stem, {}, 15.0, "");
}
