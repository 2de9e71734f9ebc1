// SPDX-License-Identifier: Apache-2.0
// The visual report (`--html FILE` on the main command and on `eval`): one self-contained HTML file,
// no scripts and no network references (styles inline, charts as inline SVG from svg_chart.h), so it
// opens anywhere, offline, and can be attached to a CI run. Sections, each present when its data is:
//   summary      key/value rows (models, sizes, times, settings) and the outputs' cosine/SNR/top-1
//   error        per-tensor error in graph order: accumulated SNR and cosine against FP32 and, when
//                known, the tensor's own rounding SNR, as a chart and a table
//   histograms   each activation's histogram with the chosen clip range and the observed min/max
//   precision    per layer: its types (int8/int16/float...) and why
// Every name (node, tensor, file) is HTML-escaped. Same report, same bytes.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "ptq/quant/qspec.h"
#include "ptq/report/evaluator.h"

namespace ptq::report {

struct HtmlTensorError {
  std::string tensor;
  double cosine = 1.0, snr_db = 0.0;  // accumulated: the candidate's tensor against FP32
  bool has_own = false;
  double own_snr_db = 0.0;            // the tensor's own rounding and clipping alone
};

struct HtmlHistogram {
  std::string tensor;
  std::string method;                 // the calibration method that chose `chosen`
  std::string dtype;
  double lo = 0.0, hi = 0.0;          // histogram range
  std::vector<double> counts;         // equal bins over [lo, hi]
  Range chosen;                       // the range given to compute_qparams
  Range observed;                     // min and max seen in calibration (what minmax would pick)
};

struct HtmlLayer {
  std::string name, op_type;
  std::string precision;  // "uint8 / int8", "int16 / int16", "float"
  std::string why;
};

struct HtmlReport {
  std::string title;
  std::vector<std::pair<std::string, std::string>> summary;
  const EvalResult* eval = nullptr;            // outputs and accuracy; nullptr: not evaluated
  std::vector<HtmlTensorError> errors;         // graph order
  std::vector<HtmlHistogram> histograms;       // graph order
  std::string histogram_note;                  // why there are none, or which samples they come from
  std::vector<HtmlLayer> layers;               // graph order
  std::string layer_note;
};

// Fills each histogram's counts (counts.size() equal bins over [lo, hi], set by the caller; a value
// outside goes to the nearest end bin) from the FP32 graph run on the first `max_samples` samples of
// `data`, through the executor's tap (histograms.cpp). Non-finite values are not counted.
void fill_histograms(const Graph& graph, std::vector<HtmlHistogram>& histograms, const calib::DataReader& data, size_t max_samples,
                     int threads);

// The precision of every node (but the Q/DQ themselves) of an already-quantized Q/DQ model, read from
// the DequantizeLinear nodes feeding it (qdq_layers.cpp): what `eval --html` shows.
std::vector<HtmlLayer> qdq_layers(const Graph& graph);

std::string render_html(const HtmlReport& report);
// render_html, written atomically.
void write_html(const HtmlReport& report, const std::filesystem::path& path);

// The errors of `eval.tensors` put in graph order: `order` lists tensor names (graph inputs, then each
// node's outputs); tensors not in it (e.g. inside bodies) follow in their own order.
std::vector<HtmlTensorError> errors_in_order(const EvalResult& eval, const std::vector<std::string>& order);

}  // namespace ptq::report
