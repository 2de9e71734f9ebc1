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

// One re-run per sample: the groups it flips and the layers whose figures it gives (one: exact;
// several: a block, shared by noise).
struct Run {
  std::vector<size_t> flip;
  std::vector<size_t> layers;
  std::vector<report::ErrorStats> stats;  // per output
};

// Per node: the compute node (with MACs) its first produced input comes from, through nodes without
// MACs; itself for a compute node or a node whose inputs no node produces.
std::vector<int> anchors(const Graph& graph, const std::map<int, int64_t>& macs) {
  std::vector<int> a(graph.nodes.size());
  for (size_t n = 0; n < graph.nodes.size(); ++n) {  // topological order
    a[n] = static_cast<int>(n);
    if (macs.count(static_cast<int>(n))) continue;
    for (const auto& in : graph.nodes[n].inputs)
      if (int p = in.empty() ? -1 : graph.producer(in); p >= 0) {
        a[n] = a[static_cast<size_t>(p)];
        break;
      }
  }
  return a;
}

// The runs measuring the `distinct` layers: one each, or with `blocks`, one per block of layers
// without MACs attached to the same anchor (in order of their first layer).
std::vector<Run> plan_runs(const Graph& graph, const std::vector<Layer>& layers, const std::vector<std::vector<size_t>>& groups,
                           const std::vector<size_t>& distinct, const std::map<int, int64_t>& macs, bool blocks) {
  std::vector<Run> runs;
  std::map<int, size_t> block_of;  // anchor -> index in runs
  const std::vector<int> anchor = blocks ? anchors(graph, macs) : std::vector<int>();
  for (size_t k : distinct) {
    const int node = layers[k].node;
    if (!blocks || macs.count(node)) {
      runs.push_back(Run{groups[k], {k}, {}});
      continue;
    }
    auto [it, fresh] = block_of.emplace(anchor[static_cast<size_t>(node)], runs.size());
    if (fresh) runs.push_back(Run{});
    Run& run = runs[it->second];
    run.layers.push_back(k);
    run.flip.insert(run.flip.end(), groups[k].begin(), groups[k].end());
  }
  for (auto& run : runs) {
    std::sort(run.flip.begin(), run.flip.end());
    run.flip.erase(std::unique(run.flip.begin(), run.flip.end()), run.flip.end());
  }
  return runs;
}

// A block's figures for a layer with share s of its error: the error vector scaled by sqrt(s).
report::ErrorStats scaled(const report::ErrorStats& e, double s) {
  const double r = std::sqrt(s), cross = e.dot - e.ref_sq;  // cross: reference · error
  report::ErrorStats out = e;
  out.diff_sq = s * e.diff_sq;
  out.dot = e.ref_sq + r * cross;
  out.cand_sq = e.ref_sq + 2.0 * r * cross + s * e.diff_sq;
  out.max_abs = r * e.max_abs;
  return out;
}

// Each layer of a block gets its share: the sum of its quantizers' noise/signal over the block's.
void share_blocks(const std::vector<Run>& runs, const std::vector<std::vector<size_t>>& groups,
                  const std::vector<QuantSim::Noise>& noise, std::vector<LayerSensitivity>& out) {
  auto rho = [&](size_t g) { return noise[g].signal > 0.0 ? noise[g].noise / noise[g].signal : 0.0; };
  for (const auto& run : runs) {
    if (run.layers.size() == 1) {  // measured exactly
      out[run.layers[0]].only = run.stats;
      continue;
    }
    double total = 0.0;
    for (size_t g : run.flip) total += rho(g);
    for (size_t k : run.layers) {
      double own = 0.0;
      for (size_t g : groups[k]) own += rho(g);
      const double share = total > 0.0 ? own / total : 1.0;
      out[k].only.clear();
      for (const auto& e : run.stats) out[k].only.push_back(scaled(e, share));
    }
  }
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
  const bool blocks = options.group_zero_mac && !options.except;
  const size_t total = std::min(options.samples, data.size());
  std::vector<Run> runs;
  std::vector<QuantSim::Noise> noise(sim.groups());  // summed over the samples (blocks)
  Progress progress("sensitivity", total * distinct.size(), options.progress, "layer runs");
  for (size_t i = 0; i < total; ++i) {
    calib::Sample s = data.read(i);
    if (s.skipped) continue;
    try {
      const Trace fp = sim.run(s.tensors, off);
      const Trace q = sim.run(s.tensors, on);
      const exec::TensorMap ref = sim.outputs(fp, off);
      add_outputs(r.quantized, r.outputs, ref, sim.outputs(q, on));
      if (r.samples == 0) {
        for (size_t n = 0; n < graph.nodes.size(); ++n)
          if (int64_t m = count_macs(graph, static_cast<int>(n), [&](const std::string& t) { return sim.shape(fp, t); }); m > 0)
            r.macs[static_cast<int>(n)] = m;
        runs = plan_runs(graph, layers, groups, distinct, r.macs, blocks);
        for (auto& run : runs) run.stats.assign(r.outputs.size(), {});
        if (blocks) log::info("sensitivity: ", distinct.size(), " layers in ", runs.size(), " runs per sample");
      }
      run_tasks(options.threads, runs.size(), [&](size_t d) {
        Run& run = runs[d];
        add_outputs(run.stats, r.outputs, ref, sim.rerun(fp, off, run.flip));
        if (options.except) add_outputs(r.layers[run.layers[0]].except, r.outputs, ref, sim.rerun(q, on, run.flip));
      });
      if (blocks) {
        std::vector<QuantSim::Noise> now(noise.size());
        run_tasks(options.threads, now.size(), [&](size_t g) { now[g] = sim.group_noise(fp, g); });
        for (size_t g = 0; g < now.size(); ++g) noise[g].noise += now[g].noise, noise[g].signal += now[g].signal;
      }
    } catch (Error& e) {
      e.append_context("sample '" + s.id + "' of " + data.describe());
      throw;
    }
    ++r.samples;
    progress.update((i + 1) * distinct.size());
  }
  progress.finish();
  share_blocks(runs, groups, noise, r.layers);
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
