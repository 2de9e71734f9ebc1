// SPDX-License-Identifier: Apache-2.0
// search_precision (see precision_search.h).
#include "ptq/search/precision_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "ptq/rewrite/passes.h"
#include "ptq/search/dither.h"
#include "ptq/util/log.h"
#include "ptq/util/parallel.h"
#include "ptq/util/progress.h"

namespace ptq::search {
namespace {

constexpr size_t kChunk = 16;  // evaluation samples run side by side (outputs kept per chunk only)
// Cost floor of the ranking, as a share of the model's MACs (measured on YOLOX-nano, PP-OCRv4 det and the
// openWakeWord mel spectrogram at --target-cosine 0.99: int8 MAC share 61/72/0 % ranking by noise
// alone, 77/95/49 % with this floor, 72/94/49 % with 1e-3).
constexpr double kCostFloor = 1e-4;
// Share of the cosine budget (1 - C) a candidate keeps in reserve: the simulation computes the Q/DQ
// arithmetic, ONNX Runtime's integer kernels requantize with fixed-point multipliers and round a little
// differently (PP-OCRv4 det: 0.99003 here, 0.98991 in ONNX Runtime). It does not cover a model that
// amplifies rounding-tie flips into its output: the dithered second draw (dither.h) does.
constexpr double kRuntimeReserve = 0.1;
constexpr uint64_t kDitherSeed = 0x5eed0d17e5ull;  // plus the sample's index (dither.h)

std::string describe(size_t promoted) {
  if (promoted == 0) return "every layer 8-bit";
  return std::to_string(promoted) + " layer" + (promoted > 1 ? "s" : "") + " promoted";
}

class Search {
 public:
  Search(const Graph& graph, const rewrite::QuantOptions& options, const calib::CalibTable& table,
         const calib::DataReader& eval, const SearchOptions& search)
      : graph_(graph), options_(options), table_(table), eval_(eval), search_(search),
        base_plan_(rewrite::plan_quantization(graph, options)) {
    for (const auto& o : graph.outputs) names_.push_back(o.name);
    for (const auto& i : graph.inputs)
      if (const auto t = base_plan_.tensors.find(i.name);
          t != base_plan_.tensors.end() && t->second.kind == rewrite::TensorPlan::Kind::Activation)
        quantized_inputs_.insert(i.name);
  }

  SearchResult run() {
    const auto start = std::chrono::steady_clock::now();
    SearchResult r;
    r.layers = find_layers(graph_, base_plan_);
    layers_ = &r.layers;
    compute_references();
    r.macs = count_all_macs();
    r.attempts.push_back(evaluate({}));
    if (!r.attempts.back().meets && !r.layers.empty() && !search_.base_only) {
      Graph storage;
      calib::CalibTable table = table_;
      const auto [g, plan] = candidate(base_plan_, table, storage);
      QuantSim sim(*g, plan, rewrite::resolve_params(*g, plan, table), 1);
      SensitivityOptions so;
      so.samples = search_.sensitivity_samples;
      so.except = false;
      so.threads = search_.threads;
      so.progress = search_.progress;
      so.group_zero_mac = true;
      r.sensitivity = analyze_sensitivity(*g, sim, r.layers, eval_, so);
      fallback_ = search_.fallback;
      if (!grow_and_bisect(r) && fallback_ == Fallback::Int16) {
        log::info("precision search: 16 bits do not reach the tolerance; trying float");
        fallback_ = Fallback::Float;
        grow_and_bisect(r);
      }
    }
    choose(r);
    r.table = table_;
    r.overrides = precision_overrides(r.layers, r.best().promoted, base_plan_, r.best().fallback);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return r;
  }

 private:
  // The graph and plan a candidate runs: the float model with the learned weights `plan` keeps
  // (search_.reweight; `table` gets their parameters), then, with bias correction, its biases corrected
  // for the plan's weight quantization and the plan made again on it (a layer may have gained a bias).
  // `storage` holds the graph when it is not graph_.
  std::pair<const Graph*, rewrite::QuantPlan> candidate(const rewrite::QuantPlan& plan, calib::CalibTable& table,
                                                        Graph& storage) const {
    if (!search_.reweight && !search_.bias_means) return {&graph_, plan};
    storage = graph_;
    if (search_.reweight) search_.reweight(plan, storage, table);
    if (!search_.bias_means) return {&storage, plan};
    storage = rewrite::correct_graph_biases(storage, plan, table, *search_.bias_means);
    return {&storage, rewrite::plan_quantization(storage, plan.options)};
  }

  // FP32 outputs of every evaluation sample, once (or from search_.references, filled by an earlier search).
  void compute_references() {
    refs_ = search_.references ? search_.references : &own_refs_;
    if (!refs_->outputs.empty()) return;
    QuantSim sim(graph_, base_plan_, rewrite::resolve_params(graph_, base_plan_, table_), 1);
    const GroupFlags off = sim.all(false);
    for_each_chunk([&](size_t, const calib::Sample& s) { return sim.run_outputs(s.tensors, off); },
                   [&](size_t, const calib::Sample& s, exec::TensorMap&& out) {
                     refs_->ids.push_back(s.id);
                     refs_->outputs.push_back(std::move(out));
                   });
  }

  // MACs of every compute node, from the shapes of a float run of the first evaluation sample.
  std::map<int, int64_t> count_all_macs() {
    std::map<int, int64_t> macs;
    for (size_t i = 0; i < eval_.size(); ++i) {
      calib::Sample s = eval_.read(i);
      if (s.skipped) continue;
      QuantSim sim(graph_, base_plan_, rewrite::resolve_params(graph_, base_plan_, table_), search_.threads);
      const Trace t = sim.run(s.tensors, sim.all(false));
      for (size_t n = 0; n < graph_.nodes.size(); ++n)
        if (int64_t m = count_macs(graph_, static_cast<int>(n), [&](const std::string& x) { return sim.shape(t, x); }); m > 0)
          macs[static_cast<int>(n)] = m;
      break;
    }
    for (auto& l : *layers_) {
      auto it = macs.find(l.node);
      l.macs = it == macs.end() ? 0 : it->second;
    }
    return macs;
  }

  // Runs `compute` on every non-skipped sample, kChunk at a time on the threads, and hands the results
  // to `take` in sample order.
  template <class Compute, class Take>
  void for_each_chunk(Compute compute, Take take) {
    size_t kept = 0;
    for (size_t first = 0; first < eval_.size(); first += kChunk) {
      const size_t n = std::min(kChunk, eval_.size() - first);
      std::vector<calib::Sample> samples(n);
      std::vector<exec::TensorMap> outs(n);
      for (size_t k = 0; k < n; ++k) samples[k] = eval_.read(first + k);
      run_tasks(search_.threads, n, [&](size_t k) {
        if (samples[k].skipped) return;
        try {
          outs[k] = compute(first + k, samples[k]);
        } catch (Error& e) {
          e.append_context("sample '" + samples[k].id + "' of " + eval_.describe());
          throw;
        }
      });
      for (size_t k = 0; k < n; ++k)
        if (!samples[k].skipped) take(kept++, samples[k], std::move(outs[k]));
    }
  }

  SearchAttempt evaluate(std::vector<size_t> promoted) {
    std::sort(promoted.begin(), promoted.end());
    SearchAttempt a;
    a.promoted = promoted;
    a.fallback = fallback_;
    rewrite::QuantOptions o = options_;
    o.precision = precision_overrides(*layers_, promoted, base_plan_, fallback_);
    rewrite::QuantPlan plan;
    try {
      plan = rewrite::plan_quantization(graph_, o);
    } catch (const Error& e) {  // e.g. every layer float: nothing left to quantize
      a.note = e.what();
      return a;
    }
    std::vector<calib::CalibTarget> missing;
    for (const auto& t : rewrite::calib_targets(plan))
      if (!table_.tensors.count(t.tensor)) missing.push_back(t);
    if (!missing.empty()) {  // e.g. a float layer's neighbour now quantizes the input of a Relu it no longer folds
      if (!search_.calibrate) {
        a.note = "quantizes tensor '" + missing[0].tensor + "', which the calibration did not observe";
        return a;
      }
      log::info("precision search: calibrating ", missing.size(), " more tensor(s) this plan quantizes");
      for (auto& [name, entry] : search_.calibrate(missing).tensors) table_.tensors.emplace(name, std::move(entry));
    }
    calib::CalibTable table = rewrite::retype_table(table_, plan);
    Graph storage;
    const auto [g, final_plan] = candidate(plan, table, storage);
    QuantSim sim(*g, final_plan, rewrite::resolve_params(*g, final_plan, table), 1);
    const GroupFlags on = sim.all(true);
    // The figures on the samples, or on their dithered copies (against the same FP32 outputs: a relative
    // 1e-5 moves those by far less than any tolerance).
    const auto score = [&](bool dither) {
      report::OutputScorer scorer(names_);
      for_each_chunk(
          [&](size_t i, const calib::Sample& s) {
            return sim.run_outputs(dither ? dithered(s.tensors, kDitherSeed + i, quantized_inputs_) : s.tensors, on);
          },
          [&](size_t k, const calib::Sample&, exec::TensorMap&& out) { scorer.add(refs_->outputs.at(k), out, refs_->ids.at(k)); });
      report::EvalResult er;
      scorer.finish(search_.labels, eval_.describe(), er);
      return er;
    };
    const report::EvalResult er = score(false);
    a.worst_cosine = er.worst_output_cosine();
    a.has_accuracy = er.has_accuracy;
    a.accuracy = er.accuracy_candidate;
    a.accuracy_reference = er.accuracy_reference;
    Tolerance aim = search_.tolerance;
    if (aim.target_cosine > 0.0) aim.target_cosine = 1.0 - (1.0 - kRuntimeReserve) * (1.0 - aim.target_cosine);
    a.meets = meets(aim, a.worst_cosine, a.has_accuracy, a.accuracy, a.accuracy_reference);
    std::string figures = std::to_string(a.worst_cosine);  // the nominal run's, then the dithered one's
    if (a.meets && search_.dither) {
      const report::EvalResult d = score(true);
      a.dithered_cosine = d.worst_output_cosine();
      a.worst_cosine = std::min(a.worst_cosine, a.dithered_cosine);
      if (a.has_accuracy) a.accuracy = std::min(a.accuracy, d.accuracy_candidate);
      a.meets = meets(aim, a.worst_cosine, a.has_accuracy, a.accuracy, a.accuracy_reference);
      figures += " (dithered inputs " + std::to_string(a.dithered_cosine) + ")";
    }
    log::info("precision search: ", describe(promoted.size()), promoted.empty() ? "" : " (" + fallback_name(fallback_) + ")", ": output cosine ", figures,
              a.has_accuracy ? ", top-1 " + std::to_string(100.0 * a.accuracy) + " %" : std::string(), a.meets ? " (meets)" : "");
    return a;
  }

  // The promotion order: output noise a layer causes alone (10^(-SNR/10) of its "only" figure) per MAC
  // its promotion takes out of 8-bit kernels (the compute nodes that read or write its tensors, itself
  // included), the MACs floored at kCostFloor of the model's so free layers rank by noise among
  // themselves. Ties keep layer order.
  std::vector<size_t> rank_by_value(const SearchResult& r) const {
    const auto groups = activation_groups(base_plan_);
    int64_t total = 0;
    for (const auto& [n, m] : r.macs) total += m;
    const double eps = kCostFloor * static_cast<double>(std::max<int64_t>(total, 1));
    std::vector<double> score(r.layers.size());
    for (size_t k = 0; k < r.layers.size(); ++k) {
      const Layer& l = r.layers[k];
      std::set<int> touched{l.node};
      for (const auto& root : l.activations) {
        auto g = groups.find(root);
        if (g == groups.end()) continue;
        for (const auto& t : g->second) {
          if (int p = graph_.producer(t); p >= 0) touched.insert(p);
          for (int c : graph_.consumers(t)) touched.insert(c);
        }
      }
      double cost = 0;
      for (int n : touched) if (auto it = r.macs.find(n); it != r.macs.end()) cost += static_cast<double>(it->second);
      const double nsr = std::pow(10.0, -r.sensitivity.layers[k].only_snr_db() / 10.0);
      score[k] = nsr / (cost + eps);
    }
    std::vector<size_t> order(r.layers.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
    return order;
  }

  // The first prefix length to try, from the noise the ranking measured: each layer's "only" noise
  // (10^(-SNR/10)) taken as adding up, scaled so that all of them give the noise of the all-8-bit
  // attempt (NSR = 1/cos^2 - 1), the shortest prefix whose remaining noise is within the tolerance's.
  // 1 when the tolerance has no cosine condition or the figures give no such prefix. Only where the
  // growth starts: the bisection still decides on evaluated candidates.
  size_t predicted_prefix(const SearchResult& r, const std::vector<size_t>& order) const {
    const double c0 = r.attempts.front().worst_cosine, target = search_.tolerance.target_cosine;
    if (!(target > 0.0) || !(c0 > 0.0) || c0 >= 1.0 || r.sensitivity.layers.size() != r.layers.size()) return 1;
    const double aim = 1.0 - (1.0 - kRuntimeReserve) * (1.0 - target);
    std::vector<double> nsr(order.size());
    double total = 0.0;
    for (size_t i = 0; i < order.size(); ++i) total += nsr[i] = std::pow(10.0, -r.sensitivity.layers[order[i]].only_snr_db() / 10.0);
    if (!(total > 0.0) || !std::isfinite(total)) return 1;
    const double scale = (1.0 / (c0 * c0) - 1.0) / total, budget = 1.0 / (aim * aim) - 1.0;
    double remaining = total;
    for (size_t k = 0; k < order.size(); ++k) {
      if (scale * remaining <= budget) return std::max<size_t>(k, 1);
      remaining -= nsr[k];
    }
    return 1;
  }

  // The shortest prefix of the ranking that meets the tolerance (growing from the predicted prefix by
  // doubling, then bisecting), then pruning; false when no prefix that leaves something quantized meets
  // it. A prefix with no valid plan (every layer promoted to float: nothing left to quantize) caps the
  // growth, and the prefixes below the cap are bisected for one that meets.
  bool grow_and_bisect(SearchResult& r) {
    const std::vector<size_t> order = rank_by_value(r);
    auto prefix = [&](size_t k) { return std::vector<size_t>(order.begin(), order.begin() + static_cast<long>(k)); };
    size_t fail = 0, pass = 0;         // prefix lengths known to fail / pass (pass 0: none yet)
    size_t cap = order.size() + 1;     // prefix lengths from cap on have no valid plan
    for (size_t k = std::min(predicted_prefix(r, order), order.size());; k = std::min(2 * k, order.size())) {
      r.attempts.push_back(evaluate(prefix(k)));
      if (r.attempts.back().meets) {
        pass = k;
        break;
      }
      if (!r.attempts.back().note.empty()) {
        cap = k;
        break;
      }
      fail = k;
      if (k == order.size()) return false;
    }
    while (pass == 0 && cap - fail > 1) {
      const size_t mid = fail + (cap - fail) / 2;
      r.attempts.push_back(evaluate(prefix(mid)));
      if (r.attempts.back().meets) pass = mid;
      else (r.attempts.back().note.empty() ? fail : cap) = mid;
    }
    if (pass == 0) return false;
    while (pass - fail > 1) {
      const size_t mid = fail + (pass - fail) / 2;
      r.attempts.push_back(evaluate(prefix(mid)));
      (r.attempts.back().meets ? pass : fail) = mid;
    }
    std::vector<size_t> kept = prefix(pass);
    size_t tries = 0;
    for (size_t k = pass; k-- > 0 && tries < search_.prune;) {  // least sensitive first
      std::vector<size_t> fewer = kept;
      fewer.erase(std::find(fewer.begin(), fewer.end(), order[k]));
      if (fewer.empty()) break;
      if (fewer == prefix(fail)) continue;  // the bisection's last failure: known
      ++tries;
      r.attempts.push_back(evaluate(fewer));
      if (r.attempts.back().meets) kept = fewer;
    }
    return true;
  }

  // The attempt kept: the one meeting the tolerance with the fewest promoted layers (the last found
  // among equals), else the best figures (accuracy first when it is part of the tolerance).
  void choose(SearchResult& r) const {
    r.chosen = 0;
    r.met = false;
    for (size_t i = 0; i < r.attempts.size(); ++i) {
      const SearchAttempt& a = r.attempts[i];
      if (!a.note.empty()) continue;
      const SearchAttempt& c = r.attempts[r.chosen];
      bool better;
      if (a.meets != r.met) better = a.meets;
      else if (a.meets) better = a.promoted.size() <= c.promoted.size();
      else if (search_.tolerance.max_drop >= 0.0 && a.has_accuracy && a.accuracy != c.accuracy) better = a.accuracy > c.accuracy;
      else better = a.worst_cosine > c.worst_cosine;
      if (better || !c.note.empty()) {
        r.chosen = i;
        r.met = a.meets;
      }
    }
  }

  const Graph& graph_;
  const rewrite::QuantOptions& options_;
  calib::CalibTable table_;  // grows when a candidate quantizes tensors the calibration did not observe
  const calib::DataReader& eval_;
  const SearchOptions& search_;
  rewrite::QuantPlan base_plan_;
  std::vector<std::string> names_;
  std::set<std::string> quantized_inputs_;  // the graph inputs the plan quantizes: what the dither moves
  std::vector<Layer>* layers_ = nullptr;
  Fallback fallback_ = Fallback::Int16;  // of the attempts being made
  References own_refs_;
  References* refs_ = &own_refs_;  // own_refs_ or search_.references
};

}  // namespace

bool meets(const Tolerance& t, double worst_cosine, bool has_accuracy, double accuracy, double accuracy_reference) {
  if (t.target_cosine > 0.0 && !(worst_cosine >= t.target_cosine)) return false;
  if (t.max_drop >= 0.0 && (!has_accuracy || 100.0 * (accuracy_reference - accuracy) > t.max_drop + 1e-9)) return false;
  return true;
}

SearchResult search_precision(const Graph& graph, const rewrite::QuantOptions& options, const calib::CalibTable& table,
                              const calib::DataReader& eval, const SearchOptions& search) {
  if (!search.tolerance.active()) PTQ_FAIL(UsageError, "the precision search needs --target-cosine or --max-drop");
  if (search.tolerance.max_drop >= 0.0 && search.labels.empty())
    PTQ_FAIL(UsageError, "--max-drop needs labels (--eval-data DIR --labels FILE)");
  if (eval.size() == 0) PTQ_FAIL(UsageError, "the precision search needs evaluation samples");
  return Search(graph, options, table, eval, search).run();
}

}  // namespace ptq::search
