// SPDX-License-Identifier: Apache-2.0
// What the table writers share: the calibration entry a planned tensor's parameters come from, and
// the quantized Conv/Gemm layers of the model graph with their input, weight and output entries.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "ptq/export/table_export.h"

namespace ptq::table_export {

// The entry holding `tensor`'s parameters: its own, or (data movement sharing parameters) its root's;
// nullptr when the plan does not quantize it or the table lacks the entry.
const calib::TensorCalib* find_entry(const ExportInput& input, const std::string& tensor);

// Activation tensors the plan quantizes in the model graph, in graph order (inputs, then each node's
// outputs), with their entries.
struct ExportTensor {
  std::string name;
  const calib::TensorCalib* entry = nullptr;
};
std::vector<ExportTensor> quantized_activations(const ExportInput& input);

// A quantized Conv or Gemm with a quantized constant weight. out_channels: the weight's output
// channels (Conv dim 0, Gemm dim 0 with transB else 1); groups: Conv's group attribute (1 for Gemm).
// input/output: nullptr when that activation is not quantized (output: the tensor after a folded
// Relu/Clip, which is what the runtimes' fused layers write).
struct ExportLayer {
  std::string name;  // the node's name, or its first output's when it has none (as onnx2ncnn names layers)
  std::string op_type;
  std::string input_name, weight_name, output_name;
  const calib::TensorCalib* input = nullptr;
  const calib::TensorCalib* weight = nullptr;
  const calib::TensorCalib* output = nullptr;
  int64_t out_channels = 1, groups = 1;
};
std::vector<ExportLayer> quantized_layers(const ExportInput& input);

// max(|lo|, |hi|) of a range: the symmetric threshold the int8 formats take.
inline float range_absmax(const Range& r) { return std::fmax(std::fabs(r.lo), std::fabs(r.hi)); }

// Weight absmax per output channel (a per-tensor weight's one value repeated out_channels times).
std::vector<float> weight_absmax(const ExportLayer& layer);

}  // namespace ptq::table_export
