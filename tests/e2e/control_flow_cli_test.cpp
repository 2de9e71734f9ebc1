// SPDX-License-Identifier: Apache-2.0
// The bundled models with control flow and recurrent layers, through the CLI: the VAD model (all its
// layers inside If branches, 'sr' fed as a 1-element array) quantizes instead of stopping with
// "nothing to quantize", with its per-step LSTM errors in the report; the GRU classifier's weights
// become int8 per gate row.
#include <nlohmann/json.hpp>

#include "ptq/ir/onnx_io.h"
#include "testutil.h"

namespace fs = std::filesystem;
using namespace ptq;

namespace {

const fs::path kRoot = PTQ_SOURCE_DIR;
std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

// The targets: ≤ 0.5x (VAD) and ≤ 0.35x (GRU classifier) of the FP32 file.
constexpr double kVadMaxSize = 0.5;
constexpr double kGruMaxSize = 0.35;
// Output cosine of the VAD's speech probability on the held-out calibration chunks, static int8.
constexpr double kVadMinCosine = 0.99;

}  // namespace

TEST(ControlFlowCli, VadInsideIfBranchesQuantizesWithPerStepErrors) {
  const fs::path dir = test::fresh_dir();
  auto r = test::run_quantize(q(kRoot / "models/vad_if_lstm.onnx") + " --calib " + q(kRoot / "calibration/vad") + " --json -o " +
                              q(dir / "s.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["nodes"]["quantized"].get<int>(), 20) << r.out;
  EXPECT_LE(j["bytes"]["quantized"].get<double>() / j["bytes"]["fp32"].get<double>(), kVadMaxSize);
  bool lstm_steps = false;
  for (const auto& s : j["evaluation"]["sequences"])
    lstm_steps |= s["name"].get<std::string>().find("rate_switch/") == 0 && s["cosine"].size() == 5;
  EXPECT_TRUE(lstm_steps) << j["evaluation"]["sequences"].dump();
  for (const auto& o : j["evaluation"]["outputs"]) {
    if (o["name"] == "output") {
      EXPECT_GE(o["cosine"].get<double>(), kVadMinCosine);
    }
  }
  // Dynamic integer: DynamicQuantizeLSTM inside both branches.
  r = test::run_quantize(q(kRoot / "models/vad_if_lstm.onnx") + " --mode dynamic --dynamic-format integer -q -o " + q(dir / "i.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  onnx::ModelProto m = onnx_io::load_model(dir / "i.onnx").proto;
  int lstm = 0;
  for (const auto& a : m.graph().node(m.graph().node_size() - 1).attribute())
    for (const auto& n : a.g().node()) lstm += n.op_type() == "DynamicQuantizeLSTM" && n.domain() == "com.microsoft";
  EXPECT_EQ(lstm, 2);
}

TEST(ControlFlowCli, GruClassifierWeightsPerGateRow) {
  const fs::path dir = test::fresh_dir();
  auto r = test::run_quantize(q(kRoot / "models/fmnist_gru.onnx") + " --mode dynamic --json -o " + q(dir / "g.onnx"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_LE(j["bytes"]["quantized"].get<double>() / j["bytes"]["fp32"].get<double>(), kGruMaxSize);
  onnx::ModelProto m = onnx_io::load_model(dir / "g.onnx").proto;
  int per_row = 0;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "DequantizeLinear")
      for (const auto& a : n.attribute()) per_row += a.name() == "axis" && a.i() == 1 && n.input(0).find("GRU") != std::string::npos;
  EXPECT_EQ(per_row, 2) << "W and R of the GRU";
}
