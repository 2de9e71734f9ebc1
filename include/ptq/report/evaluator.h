// SPDX-License-Identifier: Apache-2.0
// Evaluation: runs a reference (FP32) model and a candidate (quantized) model on the same samples and
// measures how far the candidate's tensors and outputs drift:
//   cosine = Σab / sqrt(Σa² Σb²),  SNR(dB) = 10·log10(Σa² / Σ(a−b)²)   (a = reference, b = candidate)
// accumulated over all samples (sums are streamed: memory does not grow with the sample count).
// For classifier-like outputs ([..., C] with C > 1) it also counts top-1 agreement and, given labels,
// the accuracy of both models. Intermediate tensors are fetched from the model's graph, or taken from
// the tap when they live in an If/Loop/Scan body (scoped names, graph.h; a loop body's value once per
// iteration, compared iteration by iteration). Sequences (recurrent outputs) are also compared step by
// step along their time axis: how the error grows along the sequence.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"
#include "ptq/exec/executor.h"
#include "ptq/quant/qspec.h"

namespace ptq::report {

// Running sums for cosine/SNR of a candidate tensor against a reference. Elements where either side
// is NaN/Inf are counted (per side) and left out of the sums, so one bad value cannot turn every
// figure into NaN, and the report can say where they came from.
struct ErrorStats {
  double dot = 0.0, ref_sq = 0.0, cand_sq = 0.0, diff_sq = 0.0, max_abs = 0.0;
  int64_t count = 0;
  int64_t nonfinite_reference = 0, nonfinite_candidate = 0;
  void add(const Tensor& reference, const Tensor& candidate);
  void add(const float* reference, const float* candidate, int64_t n);
  double cosine() const;   // 1 when both are all-zero
  double snr_db() const;   // +inf when identical
};

struct OutputMetrics {
  std::string name;
  ErrorStats error;
  bool classifier = false;     // last dim > 1: argmax per row
  int64_t rows = 0;            // rows compared for top-1
  int64_t top1_agree = 0;
};

struct TensorMetrics {
  std::string tensor;
  ErrorStats error;        // candidate model's tensor vs the reference model's tensor (accumulated error)
  bool has_local = false;
  ErrorStats local;        // fake_quantize(reference tensor) vs reference tensor: this tensor's own rounding error
};

// An intermediate tensor to compare: `reference` in the reference model against `candidate` in the
// candidate model (e.g. "T" against "T_DequantizeLinear_Output"); with `qparams`, also the local error.
struct TensorCompare {
  std::string name;  // label in the report
  std::string reference;
  std::string candidate;
  bool has_qparams = false;
  QParams qparams;
};

// A sequence to compare step by step: `reference` against `candidate`, split along `axis` (the time
// axis: 0 for an LSTM/GRU/RNN Y [seq, directions, batch, hidden], 1 with layout 1).
struct SequenceCompare {
  std::string name;  // label in the report
  std::string reference;
  std::string candidate;
  int axis = 0;
};

struct SequenceMetrics {
  std::string name;
  std::vector<ErrorStats> steps;  // one per time step
};

struct EvalOptions {
  // Intermediate tensors to compare; pairs absent from either model are skipped.
  std::vector<TensorCompare> tensors;
  std::vector<SequenceCompare> sequences;  // the same, per time step
  std::vector<int64_t> labels;  // class per classifier row, in sample order (empty: no accuracy)
  int threads = 0;
  bool progress = true;
};

struct EvalResult {
  size_t samples = 0;
  std::vector<OutputMetrics> outputs;  // graph outputs, in the reference model's order
  std::vector<TensorMetrics> tensors;  // worst (lowest SNR) first
  std::vector<SequenceMetrics> sequences;  // in EvalOptions order
  // With labels: accuracy of the first classifier output.
  bool has_accuracy = false;
  int64_t labelled_rows = 0;
  double accuracy_reference = 0.0;
  double accuracy_candidate = 0.0;
  double seconds_reference = 0.0;  // total run time of each model
  double seconds_candidate = 0.0;
  // The lowest cosine over the outputs (1 when there are none).
  double worst_output_cosine() const;
};

// Scores the graph outputs of a candidate against a reference, sample after sample: the outputs part
// of an EvalResult (per output cosine/SNR, top-1 agreement of classifier outputs, and with labels the
// accuracy of both on the first classifier output). Used by evaluate() and by searches that compare
// candidates without writing them.
class OutputScorer {
 public:
  explicit OutputScorer(const std::vector<std::string>& names);
  // One sample's outputs (every name must be in both maps).
  void add(const exec::TensorMap& reference, const exec::TensorMap& candidate, const std::string& sample_id);
  // Copies the figures into result.outputs (and, with labels, the accuracy fields); `source` names the
  // data in the error for a label count that does not match the classifier rows.
  void finish(const std::vector<int64_t>& labels, const std::string& source, EvalResult& result) const;

 private:
  std::vector<OutputMetrics> outputs_;
  std::vector<int64_t> ref_pred_, cand_pred_;
};

EvalResult evaluate(const Graph& reference, const Graph& candidate, const calib::DataReader& data,
                    const EvalOptions& options);

// Labels from a .npy (integer, any shape, flattened) or a text file with one integer per line.
std::vector<int64_t> read_labels(const std::string& path);

}  // namespace ptq::report
