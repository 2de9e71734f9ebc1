// SPDX-License-Identifier: Apache-2.0
// Precision search: the fewest layers to take out of 8 bits so that a tolerance holds.
//   tolerance: every graph output's cosine with FP32 >= target_cosine, and/or the top-1 accuracy (with
//              labels) at most max_drop points below FP32's, on the evaluation samples;
//   fallback:  a promoted layer becomes 16-bit (int16 activations and weights) or float, with all of its
//              quantizers (layers.h). With int16, when even every ranked layer in 16 bits misses the
//              tolerance (a tensor no uniform grid holds, e.g. a power spectrum feeding a Log), the search
//              runs again with float.
// Loop (one calibration, no model written): layers ranked by sensitivity per cost: the output noise when
// only that layer is quantized (layer costs add up, a cost hidden by a worse one upstream still shows)
// over the MACs its promotion takes out of 8-bit kernels (its own and its neighbours' that read or write
// its tensors; floored, so layers without MACs rank by noise among themselves); then
// the ranked prefixes are tried, growing by doubling from a predicted length (the layers' noise taken as
// adding up, scaled to the all-8-bit attempt's; 1 without a cosine condition) until one meets the
// tolerance, and bisected down to the shortest that does; then each promoted layer, least sensitive first, is returned to 8 bits
// when the tolerance still holds without it (at most `prune` tries). Every candidate is re-planned
// (rewrite::plan_quantization with PrecisionOverrides) and run by a QuantSim on the evaluation samples;
// a candidate meets a cosine tolerance C when it reaches 1 - 0.9 (1 - C) (a reserve for runtimes whose
// integer kernels round differently), on the samples and on dithered copies of them (dither.h: a
// second draw of where values fall against rounding ties, as another runtime sees it).
// Deterministic: ranking ties go by layer order, every step depends on figures only.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ptq/calib/calibrator.h"
#include "ptq/search/sensitivity.h"

namespace ptq::search {

struct Tolerance {
  double target_cosine = 0.0;  // 0: no cosine condition
  double max_drop = -1.0;      // top-1 points; < 0: no accuracy condition (needs labels)
  bool active() const { return target_cosine > 0.0 || max_drop >= 0.0; }
};

// The FP32 outputs of the evaluation samples (and their ids), which a search computes once.
struct References {
  std::vector<exec::TensorMap> outputs;
  std::vector<std::string> ids;
};

struct SearchOptions {
  Tolerance tolerance;
  Fallback fallback = Fallback::Int16;
  std::vector<int64_t> labels;      // labels of the evaluation samples' classifier rows (max_drop)
  size_t sensitivity_samples = 4;   // samples of the ranking
  size_t prune = 4;                 // tries to return promoted layers to 8 bits
  bool base_only = false;           // evaluate the plan without promotions only (no ranking, no candidates)
  bool dither = true;               // a candidate must also meet the tolerance on dithered samples (dither.h)
  int threads = 0;
  bool progress = true;
  // Bias correction (rewrite/passes.h) as the written model will have it: every candidate's biases
  // corrected for its own weight quantization, with these per-channel means of the layers' inputs
  // (calib::channel_means of bias_correction_inputs). nullptr: no bias correction.
  const std::map<std::string, std::vector<double>>* bias_means = nullptr;
  // Learned weights (AdaRound's rounding): gives a candidate's copy of the float graph the weights its
  // plan keeps, and the table their parameters (the layers it promotes keep their float weights); the
  // ranking runs with those of the plan without promotions. nullptr: every candidate runs the float
  // weights, rounded to nearest by its quantizers.
  std::function<void(const rewrite::QuantPlan&, Graph&, calib::CalibTable&)> reweight;
  // Calibrates tensors a candidate quantizes that the table lacks (a float layer can make a neighbour
  // quantize a tensor it used to fold away); nullptr: such candidates are skipped.
  std::function<calib::CalibTable(const std::vector<calib::CalibTarget>&)> calibrate;
  // Shared by searches on the same model and evaluation samples (--adaround's base-only search, then
  // the full one): filled by the first, read by the others. nullptr: each search computes its own.
  References* references = nullptr;
};

// One candidate the search evaluated.
struct SearchAttempt {
  std::vector<size_t> promoted;  // layer indices
  Fallback fallback = Fallback::Int16;  // what the promoted layers became
  double worst_cosine = 1.0;     // over the outputs (and both realizations, when dithered)
  bool has_accuracy = false;
  double accuracy = 0.0, accuracy_reference = 0.0;  // top-1, fractions (the lower realization's)
  bool meets = false;
  // The same on dithered samples (dither.h), run when the nominal figures meet the tolerance; < 0: not run.
  double dithered_cosine = -1.0;
  std::string note;              // "" or why it could not be evaluated
};

struct SearchResult {
  bool met = false;
  std::vector<Layer> layers;
  SensitivityResult sensitivity;
  std::vector<SearchAttempt> attempts;  // in the order tried
  size_t chosen = 0;                    // index into attempts: the one kept (met, or the best found)
  rewrite::PrecisionOverrides overrides;
  std::map<int, int64_t> macs;          // per compute node (graph.nodes index), from a run's shapes
  calib::CalibTable table;              // the table given, with what `calibrate` added
  double seconds = 0.0;
  const SearchAttempt& best() const { return attempts.at(chosen); }
};

// Graph and table: the float model and its calibration for `options` (without precision overrides).
// `eval`: the evaluation samples; the first sensitivity_samples of them rank the layers.
SearchResult search_precision(const Graph& graph, const rewrite::QuantOptions& options, const calib::CalibTable& table,
                              const calib::DataReader& eval, const SearchOptions& search);

// True when the figures meet the tolerance.
bool meets(const Tolerance& t, double worst_cosine, bool has_accuracy, double accuracy, double accuracy_reference);

}  // namespace ptq::search
