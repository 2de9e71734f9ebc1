// SPDX-License-Identifier: Apache-2.0
// TensorRT calibration cache (`--export-table trt:FILE`), the text TensorRT's IInt8EntropyCalibrator2
// writes and `trtexec --calib=FILE` / ONNX Runtime's TensorRT provider (trt_int8_use_native_calibration_table)
// read:
//   TRT-8601-EntropyCalibration2
//   <tensor name>: <8 hex digits>
// one line per activation tensor the plan quantizes in the model graph (graph inputs, then node outputs
// in graph order), the digits the IEEE-754 float32 bits of scale = amax / 127 written most significant
// first, amax = max(|lo|, |hi|) of the calibrated range (the clipping decision, whatever the activation
// type of the Q/DQ model). A tensor whose range is [0, 0] keeps the scale of its Q/DQ parameters (1).
// Weights are not listed: TensorRT quantizes them itself. The header names TensorRT 8.6.1 (kTrtVersion).
#include <cstdio>
#include <cstring>

#include "export_layers.h"

namespace ptq::table_export {

constexpr const char* kTrtVersion = "8601";

ExportedTable write_trt_cache(const ExportInput& input) {
  ExportedTable out;
  out.text = std::string("TRT-") + kTrtVersion + "-EntropyCalibration2\n";
  for (const ExportTensor& t : quantized_activations(input)) {
    if (!t.entry || t.entry->range.empty()) {
      out.skipped.push_back(t.name + ": no calibration entry");
      continue;
    }
    const float amax = range_absmax(t.entry->range[0]);
    const float scale = amax > 0.0f ? amax / 127.0f : t.entry->qparams.scale.at(0);
    uint32_t bits = 0;
    std::memcpy(&bits, &scale, sizeof bits);
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08x", bits);
    out.text += t.name + ": " + hex + "\n";
    ++out.entries;
  }
  return out;
}

}  // namespace ptq::table_export
