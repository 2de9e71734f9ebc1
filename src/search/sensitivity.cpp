// SPDX-License-Identifier: Apache-2.0
// analyze_sensitivity (see sensitivity.h).
#include "ptq/search/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "ptq/util/log.h"
#include "ptq/util/parallel.h"
#include "ptq/util/progress.h"

namespace ptq::search {
namespace {

void add_outputs(std::vector<report::ErrorStats>& stats, const std::vector<std::string>& names, const exec::TensorMap& ref,
                 const exec::TensorMap& got) {
  for (size_t o = 0; o < names.size(); ++o) stats[o].add(ref.at(names[o]), got.at(names[o]));
}

// The simulator groups of a layer's quantizers.
std::vector<size_t> groups_of(const QuantSim& sim, const Layer& l) {
  std::vector<size_t> g;
  for (const auto& t : l.activations)
    if (int k = sim.group_of(t); k >= 0) g.push_back(static_cast<size_t>(k));
  for (const auto& t : l.weights)
    if (int k = sim.group_of(t); k >= 0) g.push_back(static_cast<size_t>(k));
  std::sort(g.begin(), g.end());
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return g;
}

}  // namespace

double worst_cosine(const std::vector<report::ErrorStats>& outputs) {
  double w = 1.0;
  for (const auto& s : outputs) w = std::min(w, s.cosine());
  return w;
}

double worst_snr_db(const std::vector<report::ErrorStats>& outputs) {
  double w = std::numeric_limits<double>::infinity();
  for (const auto& s : outputs) w = std::min(w, s.snr_db());
  return w;
}

double LayerSensitivity::only_cosine() const { return worst_cosine(only); }
double LayerSensitivity::only_snr_db() const { return worst_snr_db(only); }
double LayerSensitivity::except_cosine() const { return worst_cosine(except); }
double LayerSensitivity::except_snr_db() const { return worst_snr_db(except); }

std::vector<size_t> SensitivityResult::ranking() const {
  std::vector<size_t> order(layers.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return layers[a].only_snr_db() < layers[b].only_snr_db(); });
  return order;
}

SensitivityResult analyze_sensitivity(const Graph& graph, const QuantSim& sim, std::vector<Layer>& layers,
                                      const calib::DataReader& data, const SensitivityOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SensitivityResult r;
  for (const auto& o : graph.outputs) r.outputs.push_back(o.name);
  r.quantized.assign(r.outputs.size(), {});
  r.layers.assign(layers.size(), LayerSensitivity{});
  for (auto& l : r.layers) {
    l.only.assign(r.outputs.size(), {});
    if (options.except) l.except.assign(r.outputs.size(), {});
  }
  std::vector<std::vector<size_t>> groups;
  for (const auto& l : layers) groups.push_back(groups_of(sim, l));
  // Layers with the same quantizers (a data-movement node and the node whose parameters it shares)
  // give the same figures: measured once, copied.
  std::vector<size_t> distinct, same_as(layers.size());
  std::map<std::vector<size_t>, size_t> first_with;
  for (size_t k = 0; k < layers.size(); ++k) {
    auto [it, fresh] = first_with.emplace(groups[k], k);
    same_as[k] = it->second;
    if (fresh) distinct.push_back(k);
  }
  const GroupFlags off = sim.all(false), on = sim.all(true);
  const size_t total = std::min(options.samples, data.size());
  Progress progress("sensitivity", total * distinct.size(), options.progress, "layer runs");
  for (size_t i = 0; i < total; ++i) {
    calib::Sample s = data.read(i);
    if (s.skipped) continue;
    try {
      const Trace fp = sim.run(s.tensors, off);
      const Trace q = sim.run(s.tensors, on);
      const exec::TensorMap ref = sim.outputs(fp, off);
      add_outputs(r.quantized, r.outputs, ref, sim.outputs(q, on));
      if (r.samples == 0)
        for (size_t n = 0; n < graph.nodes.size(); ++n)
          if (int64_t m = count_macs(graph, static_cast<int>(n), [&](const std::string& t) { return sim.shape(fp, t); }); m > 0)
            r.macs[static_cast<int>(n)] = m;
      run_tasks(options.threads, distinct.size(), [&](size_t d) {
        const size_t k = distinct[d];
        add_outputs(r.layers[k].only, r.outputs, ref, sim.rerun(fp, off, groups[k]));
        if (options.except) add_outputs(r.layers[k].except, r.outputs, ref, sim.rerun(q, on, groups[k]));
      });
    } catch (Error& e) {
      e.append_context("sample '" + s.id + "' of " + data.describe());
      throw;
    }
    ++r.samples;
    progress.update((i + 1) * distinct.size());
  }
  progress.finish();
  for (size_t k = 0; k < layers.size(); ++k)
    if (same_as[k] != k) {
      r.layers[k].only = r.layers[same_as[k]].only;
      r.layers[k].except = r.layers[same_as[k]].except;
    }
  for (auto& l : layers) {
    auto it = r.macs.find(l.node);
    l.macs = it == r.macs.end() ? 0 : it->second;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace ptq::search
