// SPDX-License-Identifier: Apache-2.0
// ONNX Runtime as the interop oracle: runs models through tools/ort/run_model.js (npm onnxruntime-node,
// installed into tools/ort/node_modules by tools/ort/install.sh — the ctest fixture `ort_node` and
// tools/run_tests.sh call it), and calibrates with ONNX Runtime's own FP32 activations.
#pragma once

#include <filesystem>
#include <string>

#include "ptq/calib/calibrator.h"
#include "ptq/exec/executor.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::test {

struct OrtRun {
  bool ok = false;
  std::string error;        // ONNX Runtime's message when it fails to load or run the model
  exec::TensorMap outputs;  // by graph output name
};

struct OrtOptions {
  std::string level = "all";           // graph optimization level: disabled | basic | extended | all
  std::filesystem::path optimized;     // when set: ONNX Runtime saves the optimized graph here
  // session.x64quantprecision (run_model.js --x64-precision): where ort_u8s8_saturates(), the Q/DQ
  // groups' u8 x s8 kernels run as u8 x u8 (exact). Off for models it fails to load (a QAT export
  // whose weights ONNX Runtime 1.30 cannot re-add: "Attempt to replace the existing tensor").
  bool x64_precision = true;
};

// True on an x86 CPU without VNNI (AVX2 only, or AVX-512 before Cascade Lake): there ONNX Runtime's
// u8 x s8 integer kernels sum products in pairs into 16 bits (VPMADDUBSW), which saturates once
// weights leave [-64, 63]: its fused outputs then drift from the Q/DQ graph's arithmetic. Tests run
// ONNX Runtime with x64_precision, and quantize the integer format (MatMulInteger, ConvInteger,
// DynamicQuantizeLSTM: kernels that option does not reach) with reduce_range, as ONNX Runtime's
// documentation advises for such CPUs.
bool ort_u8s8_saturates();

// Saves `model` under `dir` and runs it in ONNX Runtime on `inputs`.
OrtRun ort_run(const onnx::ModelProto& model, const exec::TensorMap& inputs, const std::filesystem::path& dir,
               const OrtOptions& options = {});
// Runs the model file `model_path` as it is (its external data beside it) in ONNX Runtime on `inputs`;
// `dir` holds the inputs and outputs.
OrtRun ort_run_file(const std::filesystem::path& model_path, const exec::TensorMap& inputs, const std::filesystem::path& dir,
                    const OrtOptions& options = {});

// Every float tensor of `model` (inputs, node outputs) in ONNX Runtime's FP32 run on `samples` (one
// batch): the model is run with all of them as graph outputs.
exec::TensorMap ort_activations(const onnx::ModelProto& model, const Graph& graph, const exec::TensorMap& samples,
                                const std::filesystem::path& dir);

// Calibration table for a plan: activation targets from [min, max] of `activations` → compute_qparams;
// weights from rewrite::weight_table.
calib::CalibTable minmax_table(const Graph& graph, const rewrite::QuantPlan& plan, const exec::TensorMap& activations);

// Cosine similarity of two float tensors of equal size.
double cosine(const Tensor& a, const Tensor& b);

}  // namespace ptq::test
