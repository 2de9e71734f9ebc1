// SPDX-License-Identifier: Apache-2.0
// AWQ's scale search (see awq.h for the algorithm and its constants).
#include "ptq/transform/awq.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "ptq/calib/calibrator.h"
#include "ptq/quant/scale.h"
#include "ptq/rewrite/passes.h"
#include "ptq/transform/gptq.h"
#include "ptq/util/log.h"
#include "ptq/util/parallel.h"

namespace ptq::transform {
namespace {

constexpr double kMeanFloor = 1e-8;  // m_k floor, relative to max m

std::vector<double> awq_scales(const std::vector<double>& mean_abs, double alpha) {
  const double top = *std::max_element(mean_abs.begin(), mean_abs.end());
  std::vector<double> s(mean_abs.size());
  for (size_t k = 0; k < s.size(); ++k) s[k] = std::pow(std::max(mean_abs[k], kMeanFloor * top), alpha);
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  const double norm = std::sqrt(*lo * *hi);
  for (double& v : s) v /= norm;
  return s;
}

// W [rows, depth] with column k times s_k.
std::vector<float> scale_columns(const std::vector<float>& w, int64_t depth, const std::vector<double>& s, bool inverse) {
  std::vector<float> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const double f = s[i % static_cast<size_t>(depth)];
    out[i] = static_cast<float>(inverse ? w[i] / f : w[i] * f);
  }
  return out;
}

}  // namespace

float awq_search(const std::vector<double>& mean_abs, const std::vector<std::vector<float>>& rows_of_readers,
                 const std::vector<int64_t>& rows, const std::vector<double>& hessian,
                 const std::function<std::vector<float>(size_t, const std::vector<float>&)>& quantize,
                 std::vector<double>* scales, double* loss_rtn, double* loss) {
  const int64_t depth = static_cast<int64_t>(mean_abs.size());
  double best = std::numeric_limits<double>::infinity();
  float best_alpha = 0.0f;
  for (int step = 0; step < kAwqGrid; ++step) {
    const double alpha = static_cast<double>(step) / kAwqGrid;
    const std::vector<double> s = awq_scales(mean_abs, alpha);
    double total = 0.0;
    for (size_t r = 0; r < rows_of_readers.size(); ++r) {
      const std::vector<float>& w = rows_of_readers[r];
      const std::vector<float> approx = scale_columns(quantize(r, scale_columns(w, depth, s, false)), depth, s, true);
      total += relative_output_error(w, approx, rows[r], depth, hessian);
    }
    if (step == 0) *loss_rtn = total;
    if (total < best) best = total, best_alpha = static_cast<float>(alpha), *scales = s;
  }
  *loss = best;
  return best_alpha;
}

WeightMethodResult awq(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params,
                       const calib::DataReader& data, const AwqOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  WeightMethodResult r;
  const std::vector<LinearLayer> eligible = weight_method_layers(graph, plan, params, &r.skipped);
  // Activations whose readers are all eligible (a reader of X's that is not would be scaled too).
  std::vector<std::string> acts;
  std::vector<std::vector<LinearLayer>> readers;
  for (const LinearLayer& l : eligible) {
    if (std::find(acts.begin(), acts.end(), l.input) != acts.end()) continue;
    std::vector<LinearLayer> mine;
    for (int c : rewrite::smooth_quant_readers(graph, l.input)) {
      auto it = std::find_if(eligible.begin(), eligible.end(), [&](const LinearLayer& e) { return e.node == c; });
      if (it == eligible.end()) { mine.clear(); break; }
      mine.push_back(*it);
    }
    if (mine.empty()) {
      r.skipped.push_back(layer_label(graph, l) + ": its input has readers AWQ cannot scale");
      continue;
    }
    acts.push_back(l.input);
    readers.push_back(std::move(mine));
  }
  if (acts.empty()) return r;
  std::vector<LinearLayer> first;
  for (const auto& m : readers) first.push_back(m.front());
  CollectedColumns cols = collect_columns(graph, first, ColumnKind::Inputs, data,
                                          CollectOptions{options.columns, options.threads, options.progress, "AWQ inputs"});
  r.samples = cols.samples;
  std::map<std::string, calib::CalibTarget> targets;
  for (const auto& t : rewrite::calib_targets(plan)) targets[t.tensor] = t;
  std::vector<std::vector<WeightMethodLayer>> reports(acts.size());
  std::vector<std::vector<double>> scales(acts.size());
  std::vector<float> alphas(acts.size());
  run_tasks(options.threads, acts.size(), [&](size_t a) {
    const Columns& x = cols.layers[a][0];
    std::vector<double> mean_abs(static_cast<size_t>(x.rows), 0.0);
    for (int64_t c = 0; c < x.cols; ++c)
      for (int64_t k = 0; k < x.rows; ++k) mean_abs[static_cast<size_t>(k)] += std::fabs(static_cast<double>(x.at(k, c)));
    for (double& m : mean_abs) m /= static_cast<double>(std::max<int64_t>(x.cols, 1));
    const std::vector<double> h = hessian_of(x);
    std::vector<std::vector<float>> rows;
    std::vector<int64_t> counts;
    for (const LinearLayer& l : readers[a]) rows.push_back(weight_rows(l, *graph.weight(l.weight))), counts.push_back(l.rows);
    auto quantize = [&](size_t i, const std::vector<float>& scaled) {
      const LinearLayer& l = readers[a][i];
      Graph tmp;
      tmp.weights[l.weight].value = weight_from_rows(l, scaled, graph.weight(l.weight)->shape());
      const calib::CalibTable t = calib::calibrate_weights(tmp, {targets.at(l.weight)}, options.weight_range);
      const Tensor fq = fake_quantize(tmp.weights[l.weight].value, t.tensors.at(l.weight).qparams);
      return weight_rows(l, fq);
    };
    double loss_rtn = 0.0, loss = 0.0;
    alphas[a] = awq_search(mean_abs, rows, counts, h, quantize, &scales[a], &loss_rtn, &loss);
    for (size_t i = 0; i < readers[a].size(); ++i) {
      const LinearLayer& l = readers[a][i];
      WeightMethodLayer rep{layer_label(graph, l), l.op_type, l.weight, l.rows, l.depth, static_cast<size_t>(x.cols)};
      rep.error_rtn = relative_output_error(rows[i], quantize(i, rows[i]), l.rows, l.depth, h);
      const std::vector<float> approx = scale_columns(quantize(i, scale_columns(rows[i], l.depth, scales[a], false)), l.depth, scales[a], true);
      rep.error = relative_output_error(rows[i], approx, l.rows, l.depth, h);
      reports[a].push_back(rep);
    }
  });
  std::map<std::string, WeightMethodLayer> by_weight;
  for (size_t a = 0; a < acts.size(); ++a) {
    log::debug("AWQ '", acts[a], "': alpha ", alphas[a], " for ", readers[a].size(), " readers");
    r.scales[acts[a]] = scales[a];
    r.alphas[acts[a]] = alphas[a];
    for (auto& rep : reports[a]) by_weight[rep.weight] = std::move(rep);
  }
  for (const LinearLayer& l : eligible)  // graph order
    if (auto it = by_weight.find(l.weight); it != by_weight.end()) r.layers.push_back(std::move(it->second));
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace ptq::transform
