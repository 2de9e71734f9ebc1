// SPDX-License-Identifier: Apache-2.0
// MNN compression parameters (`--export-table mnn:FILE`): the JSON form of MNN.Compression.Pipeline
// (tools/converter/source/compression/MNN_compression.proto) that `MNNConvert --compressionParamsFile
// FILE` reads for user-provided int8 parameters; field names as protobuf's JSON mapping writes them:
//   {"version": "0.0.0", "algo": [{"type": "QUANTIZE", "quantParams": {"roundMode": "ROUND_HALF_TO_EVEN",
//     "layer": [{"opName": <node>, "input": [A], "weight": [W], "output": [A]}, ...]}}]}
//   A = {"name", "bits": 8, "scales": [s], "zeroPoint": z, "clampMin": -128, "clampMax": 127}
//   W = {"name", "bits": 8, "scales": [s_1 .. s_M], "clampMin": -127, "clampMax": 127}
// one layer per quantized Conv/Gemm of the model graph whose input, weight and output are quantized in
// 8 bits, with the Q/DQ model's own scales (MNN divides: q = round(x / s) + z, as ONNX does). MNN's
// activations are int8, so a uint8 zero point z becomes z − 128 (same grid). MNN finds a layer by its
// output tensor: the Conv's output, or the folded Relu/Clip's after it (MNN fuses them too).
#include <nlohmann/json.hpp>

#include "export_layers.h"

namespace ptq::table_export {
namespace {

using nlohmann::json;

bool is_8bit_activation(const calib::TensorCalib& e) { return e.qparams.type == QType::Int8 || e.qparams.type == QType::UInt8; }

json activation_json(const std::string& name, const calib::TensorCalib& e) {
  const int32_t shift = e.qparams.type == QType::UInt8 ? 128 : 0;
  return {{"name", name},          {"bits", 8}, {"scales", json::array({e.qparams.scale.at(0)})}, {"zeroPoint", e.qparams.zero_point.at(0) - shift},
          {"clampMin", -128}, {"clampMax", 127}};
}

std::string unsupported(const ExportLayer& l) {
  if (!l.input || !l.output) return "its " + std::string(l.input ? "output " + l.output_name : "input " + l.input_name) + " is not quantized";
  if (!is_8bit_activation(*l.input) || !is_8bit_activation(*l.output) || l.weight->qparams.type != QType::Int8)
    return "MNN takes int8 weights and 8-bit activations (this layer is " + qtype_name(l.weight->qparams.type) + " / " +
           qtype_name(l.input->qparams.type) + ")";
  return "";
}

}  // namespace

ExportedTable write_mnn_params(const ExportInput& input) {
  ExportedTable out;
  json layers = json::array();
  for (const ExportLayer& l : quantized_layers(input)) {
    const std::string why = l.weight ? unsupported(l) : "no weight entry";
    if (!why.empty()) {
      out.skipped.push_back(l.name + ": " + why);
      continue;
    }
    json weight = {{"name", l.weight_name}, {"bits", 8}, {"scales", l.weight->qparams.scale}, {"clampMin", -127}, {"clampMax", 127}};
    layers.push_back({{"opName", l.name},
                      {"input", json::array({activation_json(l.input_name, *l.input)})},
                      {"weight", json::array({weight})},
                      {"output", json::array({activation_json(l.output_name, *l.output)})}});
    ++out.entries;
  }
  json quant = {{"roundMode", "ROUND_HALF_TO_EVEN"}, {"layer", layers}};
  json algo = {{"type", "QUANTIZE"}, {"quantParams", quant}};
  json doc = {{"version", "0.0.0"}, {"algo", json::array({algo})}};
  out.text = doc.dump(2) + "\n";
  return out;
}

}  // namespace ptq::table_export
