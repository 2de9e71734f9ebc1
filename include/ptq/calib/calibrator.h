// SPDX-License-Identifier: Apache-2.0
// Calibration: streams samples through the executor, observes the tensors the quantization plan asks
// for (activations through the executor's tap; weights straight from the initializers), and turns
// what was observed into quantization parameters with compute_qparams. The rewriter consumes the
// resulting table; `--table` saves it as JSON and `--load-table` reads it back.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"
#include "ptq/calib/reader_gain.h"
#include "ptq/ir/graph.h"
#include "ptq/quant/qspec.h"

namespace ptq::calib {

// The rows of a Softmax input. Softmax(z)_i = exp(z_i - max z) / Σ exp(z_j - max z): an input more than
// kSoftmaxWindow below its row's maximum weighs less than exp(-20) ≈ 2e-9 of the row's largest term, so
// only the top kSoftmaxWindow of each row matters to the output. Calibrating such a tensor on what the
// observer sees after clamping each row to [max - kSoftmaxWindow, max] gives a range that no attention
// mask (-1e4, -inf, finfo.min) stretches: masked entries quantize to the range's low end, where they
// still weigh nothing. Rows that are entirely -inf (fully masked) are skipped.
constexpr float kSoftmaxWindow = 20.0f;
struct SoftmaxRows {
  bool on = false;
  int axis = -1;         // negative: from the end
  bool flatten = false;  // Softmax before opset 13: a row is the block of every dim from `axis` on
};

// One tensor the plan wants quantized.
struct CalibTarget {
  std::string tensor;
  QuantSpec spec;
  int axis = -1;           // per-channel axis (weights), -1 for per-tensor
  bool is_weight = false;  // a weight (initializer or Constant): observed without running the model
  bool fixed = false;      // known range (e.g. a Softmax output): not observed, parameters from fixed_range
  Range fixed_range;
  SoftmaxRows softmax;     // a Softmax input: observed after clamping each row to its top kSoftmaxWindow
  int64_t block = 0;       // > 0: blocked along axis (weights; QParams::block): one observer per block
  ReaderGain gain;         // how the tensor's readers amplify its error (kl, mse weigh it; reader_gain.h)
};

// What calibration decided for one tensor.
struct TensorCalib {
  std::string tensor;
  std::string method;        // observer that produced the range ("minmax", "kl", ...)
  std::vector<float> min;    // observed minimum (one per channel for per-channel weights)
  std::vector<float> max;    // observed maximum
  std::vector<Range> range;  // range handed to compute_qparams (the clipping decision)
  QParams qparams;
};

struct CalibTable {
  std::string model;       // model file the table was made for
  std::string method;
  size_t samples = 0;      // samples observed
  std::map<std::string, TensorCalib> tensors;
};

struct CalibOptions {
  // A key of the observer table. percentile is the default: in tools/bench/accuracy.py over the
  // corpus models it is the best or within noise of the best method on 6 of 8 models, where kl
  // (TensorRT entropy) clips too much on most of them (e.g. YOLOX-nano output cosine 0.77 vs 0.91).
  std::string method = "percentile";
  float percentile = 99.999f;    // for "percentile"
  float moving_average = 0.0f;   // for "minmax": 0 = plain running min/max, else EMA constant
  size_t eq_samples = 50;        // for "eq": samples used by the per-layer search
  // Weight observer (a row of weight_observer_table(): minmax, mse, admm); "": the method's own
  // weight column. Weights it observes are recorded with this name as their method.
  std::string weight_range;
  int threads = 0;               // 0: all cores
  bool progress = true;          // progress bar on stderr
};

CalibTable calibrate(const Graph& graph, const std::vector<CalibTarget>& targets, const DataReader& data,
                     const CalibOptions& options);

// Weight targets only (is_weight; anything else is an error), observed straight from the graph's
// weights with the weight observer `weight_range` (a row of weight_observer_table()): no data, no
// executor. What dynamic mode uses instead of calibrate().
CalibTable calibrate_weights(const Graph& graph, const std::vector<CalibTarget>& targets, const std::string& weight_range);

// Mean of each channel (along `axis`, the others averaged) of the given tensors over the samples,
// streamed through the executor (bias correction's E[x]). Tensors never produced are absent from the
// result.
std::map<std::string, std::vector<double>> channel_means(const Graph& graph, const std::map<std::string, int>& tensor_axes,
                                                         const DataReader& data, const CalibOptions& options);

// Max |x| of each channel (along `axis`, the others reduced) of the given tensors over the samples,
// streamed through the executor (SmoothQuant's max|X_j|; channel_absmax.cpp). Tensors never produced are
// absent from the result.
std::map<std::string, std::vector<double>> channel_absmax(const Graph& graph, const std::map<std::string, int>& tensor_axes,
                                                          const DataReader& data, const CalibOptions& options);

void save_table(const CalibTable& table, const std::filesystem::path& path);
CalibTable load_table(const std::filesystem::path& path);

}  // namespace ptq::calib
