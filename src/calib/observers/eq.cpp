// SPDX-License-Identifier: Apache-2.0
// eq: EasyQuant (Wu et al. 2020, arXiv 2006.16669; ncnn2table's method=eq). Activations start from
// kl, weights from per-channel min/max (the table row); then, layer by layer in graph order, for every
// Conv, Gemm and MatMul whose input 0 is a calibrated activation and input 1 a calibrated weight:
//   1. weight scales, channel by channel (in channel order, each search seeing the choices made so
//      far): candidates s·m_k, m_k = 0.5 + 1.5·k/kSteps for k = 0 .. kSteps-1 (kSteps = 100, the
//      paper's [0.5 s, 2 s]; a candidate scales the channel's range [lo, hi], compute_qparams makes
//      the grid); the layer input is fake-quantized with its current parameters;
//   2. then the input activation scale, the same way, with the updated weights.
// The score is the cosine similarity between the layer's FP32 output and its output with fake-quantized
// inputs, summed over min(eq_samples = 50, N) samples whose layer inputs come from the FP32 network
// (errors do not accumulate). The current scale stays unless a candidate scores higher, so a layer's
// cosine never drops below the kl start. Bias stays float. An activation read by several layers is
// searched by the first of them only (later ones keep it).
// Per-channel scores are exact without running one channel at a time: output channel c depends only
// on weight channel c, so each candidate k runs the layer once with every channel scaled by m_k and
// keeps per channel <y_c, yq_c> and |yq_c|^2; the cosine of any mix of choices follows from those sums.
// Memory: the layer inputs of the samples, a group of layers at a time within kInputBudget bytes.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "../refine.h"
#include "observers.h"
#include "ptq/quant/scale.h"
#include "ptq/util/log.h"
#include "ptq/util/progress.h"

namespace ptq::calib {
namespace {

constexpr int kSteps = 100;
constexpr size_t kInputBudget = size_t{256} << 20;

double step_factor(int k) { return 0.5 + 1.5 * k / kSteps; }

struct Layer {
  size_t node;
  TensorCalib* input;
  TensorCalib* weight;
  QuantSpec input_spec, weight_spec;
};

std::vector<Range> scaled(const std::vector<Range>& r, double m) {
  std::vector<Range> out;
  for (const Range& x : r) out.push_back(Range{static_cast<float>(x.lo * m), static_cast<float>(x.hi * m)});
  return out;
}

QParams params_of(const std::vector<Range>& r, const QuantSpec& spec, int axis) {
  return axis >= 0 ? compute_qparams(r, spec, axis) : compute_qparams(r[0], spec);
}

// Per sample and per output channel: <y_c, yq_c>, |yq_c|^2.
struct ChannelSums {
  std::vector<std::vector<double>> dot, norm;  // [sample][channel]
};

class LayerSearch {
 public:
  LayerSearch(const RefineContext& ctx, const Layer& layer, std::vector<Tensor> inputs)
      : ctx_(ctx), layer_(layer), node_(ctx.graph.nodes[layer.node]), x_(std::move(inputs)) {
    w_ = ctx.graph.weight(node_.inputs[1]);
    for (const Tensor& x : x_) y_.push_back(run(x, *w_));
    const int rank = y_[0].rank();
    out_axis_ = node_.op_type == "Conv" ? 1 : rank - 1;
    channels_ = layer_.weight->range.size();
    if (channels_ != 1 && static_cast<int64_t>(channels_) != y_[0].dim(out_axis_))
      PTQ_FAIL(UsageError, "weight '", node_.inputs[1], "' has ", channels_, " per-channel scales but the layer has ",
               y_[0].dim(out_axis_), " output channels (per-channel axis must be the output-channel axis)");
  }

  void search_weights() {
    const QParams act = params_of(layer_.input->range, layer_.input_spec, -1);
    std::vector<Tensor> xq;
    for (const Tensor& x : x_) xq.push_back(fake_quantize(x, act));
    const std::vector<Range> start = layer_.weight->range;
    ChannelSums current = sums(xq, start);
    std::vector<ChannelSums> cand;
    for (int k = 0; k < kSteps; ++k) cand.push_back(sums(xq, scaled(start, step_factor(k))));
    std::vector<double> a(x_.size(), 0.0), b(x_.size(), 0.0);
    for (size_t s = 0; s < x_.size(); ++s)
      for (size_t c = 0; c < channels_; ++c) a[s] += current.dot[s][c], b[s] += current.norm[s][c];
    std::vector<Range> chosen = start;
    for (size_t c = 0; c < channels_; ++c) {
      double best = score(a, b), best_m = 1.0;
      const ChannelSums* best_sums = &current;
      for (int k = 0; k < kSteps; ++k) {
        double total = 0.0;
        for (size_t s = 0; s < x_.size(); ++s)
          total += cosine(a[s] - current.dot[s][c] + cand[k].dot[s][c], b[s] - current.norm[s][c] + cand[k].norm[s][c], s);
        if (total > best) best = total, best_m = step_factor(k), best_sums = &cand[static_cast<size_t>(k)];
      }
      for (size_t s = 0; s < x_.size(); ++s) {
        a[s] += best_sums->dot[s][c] - current.dot[s][c];
        b[s] += best_sums->norm[s][c] - current.norm[s][c];
        current.dot[s][c] = best_sums->dot[s][c];
        current.norm[s][c] = best_sums->norm[s][c];
      }
      chosen[c] = scaled({start[c]}, best_m)[0];
    }
    update(*layer_.weight, chosen, layer_.weight_spec);
  }

  void search_input() {
    const Tensor wq = fake_quantize(*w_, layer_.weight->qparams);
    const std::vector<Range> start = layer_.input->range;
    auto total_for = [&](double m) {
      QParams p = params_of(scaled(start, m), layer_.input_spec, -1);
      double total = 0.0;
      for (size_t s = 0; s < x_.size(); ++s) total += cosine_of(y_[s], run(fake_quantize(x_[s], p), wq));
      return total;
    };
    double best = total_for(1.0), best_m = 1.0;
    for (int k = 0; k < kSteps; ++k) {
      double t = total_for(step_factor(k));
      if (t > best) best = t, best_m = step_factor(k);
    }
    update(*layer_.input, scaled(start, best_m), layer_.input_spec);
  }

 private:
  Tensor run(const Tensor& x, const Tensor& w) const {
    std::vector<const Tensor*> in = {&x, &w};
    for (size_t i = 2; i < node_.inputs.size(); ++i) in.push_back(node_.inputs[i].empty() ? nullptr : ctx_.graph.weight(node_.inputs[i]));
    return ctx_.executor.run_node(layer_.node, in)[0];
  }

  ChannelSums sums(const std::vector<Tensor>& xq, const std::vector<Range>& weight_ranges) const {
    const Tensor wq = fake_quantize(*w_, params_of(weight_ranges, layer_.weight_spec, layer_.weight->qparams.axis));
    ChannelSums out;
    for (size_t s = 0; s < xq.size(); ++s) {
      Tensor yq = run(xq[s], wq);
      const float* y = y_[s].data<float>();
      const float* q = yq.data<float>();
      int64_t inner = 1;
      for (int d = out_axis_ + 1; d < yq.rank(); ++d) inner *= yq.dim(d);
      const int64_t out_channels = yq.dim(out_axis_);
      const int64_t outer = out_channels * inner > 0 ? yq.numel() / (out_channels * inner) : 0;
      std::vector<double> dot(channels_, 0.0), norm(channels_, 0.0);
      for (int64_t o = 0, i = 0; o < outer; ++o)
        for (int64_t c = 0; c < out_channels; ++c) {
          double d = 0.0, n = 0.0;
          for (int64_t j = 0; j < inner; ++j, ++i) {
            d += static_cast<double>(y[i]) * q[i];
            n += static_cast<double>(q[i]) * q[i];
          }
          const size_t k = channels_ == 1 ? 0 : static_cast<size_t>(c);
          dot[k] += d;
          norm[k] += n;
        }
      out.dot.push_back(std::move(dot));
      out.norm.push_back(std::move(norm));
    }
    return out;
  }

  double cosine(double dot, double norm_q, size_t s) const {
    double ny = y_norm(s);
    return ny > 0.0 && norm_q > 0.0 ? dot / (ny * std::sqrt(norm_q)) : 0.0;
  }
  double score(const std::vector<double>& a, const std::vector<double>& b) const {
    double t = 0.0;
    for (size_t s = 0; s < a.size(); ++s) t += cosine(a[s], b[s], s);
    return t;
  }
  double y_norm(size_t s) const {
    if (y_norms_.empty())
      for (const Tensor& y : y_) {
        const float* py = y.data<float>();
        double n = 0.0;
        for (int64_t i = 0; i < y.numel(); ++i) n += static_cast<double>(py[i]) * py[i];
        y_norms_.push_back(std::sqrt(n));
      }
    return y_norms_[s];
  }
  static double cosine_of(const Tensor& y, const Tensor& q) {
    const float* py = y.data<float>();
    const float* pq = q.data<float>();
    double d = 0.0, ny = 0.0, nq = 0.0;
    for (int64_t i = 0; i < y.numel(); ++i) {
      d += static_cast<double>(py[i]) * pq[i];
      ny += static_cast<double>(py[i]) * py[i];
      nq += static_cast<double>(pq[i]) * pq[i];
    }
    return ny > 0.0 && nq > 0.0 ? d / std::sqrt(ny * nq) : 0.0;
  }
  static void update(TensorCalib& t, const std::vector<Range>& ranges, const QuantSpec& spec) {
    t.range = ranges;
    t.qparams = params_of(ranges, spec, t.qparams.axis);
  }

  const RefineContext& ctx_;
  Layer layer_;
  const Node& node_;
  const Tensor* w_ = nullptr;
  std::vector<Tensor> x_, y_;
  mutable std::vector<double> y_norms_;
  int out_axis_ = 1;
  size_t channels_ = 1;
};

// The layers EQ refines, in graph order.
std::vector<Layer> find_layers(RefineContext& ctx) {
  std::map<std::string, const CalibTarget*> target_of;
  for (const auto& t : ctx.targets) target_of[t.tensor] = &t;
  std::vector<Layer> layers;
  std::set<std::string> claimed;  // activations already searched by an earlier layer
  for (size_t i = 0; i < ctx.graph.nodes.size(); ++i) {
    const Node& n = ctx.graph.nodes[i];
    if ((n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul") || n.inputs.size() < 2) continue;
    auto in = target_of.find(n.inputs[0]);
    auto w = target_of.find(n.inputs[1]);
    if (in == target_of.end() || w == target_of.end() || in->second->is_weight || in->second->fixed || !w->second->is_weight) continue;
    if (in->second->axis >= 0 || claimed.count(n.inputs[0])) continue;
    claimed.insert(n.inputs[0]);
    layers.push_back({i, &ctx.table.tensors.at(n.inputs[0]), &ctx.table.tensors.at(n.inputs[1]), in->second->spec, w->second->spec});
  }
  return layers;
}

// FP32 layer inputs of the first `count` usable samples for layers[first..], as many layers as fit
// kInputBudget (at least one); returns how many layers were fetched.
size_t fetch_inputs(RefineContext& ctx, const std::vector<Layer>& layers, size_t first, size_t count,
                    std::vector<std::vector<Tensor>>& inputs) {
  inputs.clear();
  size_t take = layers.size() - first;
  for (size_t i = 0, used = 0; i < ctx.data.size() && used < count; ++i) {
    Sample sample = ctx.data.read(i);
    if (sample.skipped) continue;
    exec::RunOptions run;
    for (size_t l = first; l < first + take; ++l) run.fetch.push_back(ctx.graph.nodes[layers[l].node].inputs[0]);
    exec::TensorMap got = ctx.executor.run(sample.tensors, run);
    if (used == 0) {  // fit the group into the budget, from the first sample's sizes
      size_t bytes = 0, fit = 0;
      for (size_t l = first; l < first + take; ++l) {
        bytes += got.at(run.fetch[l - first]).nbytes() * count;
        if (bytes > kInputBudget && fit > 0) break;
        ++fit;
      }
      take = fit;
      inputs.assign(take, {});
    }
    for (size_t l = 0; l < take; ++l) inputs[l].push_back(got.at(run.fetch[l]).clone());
    ++used;
  }
  return take;
}

}  // namespace

void refine_eq(RefineContext& ctx) {
  std::vector<Layer> layers = find_layers(ctx);
  const size_t count = std::min(ctx.options.eq_samples, ctx.data.size());
  if (layers.empty() || count == 0) return;
  std::vector<std::vector<Tensor>> inputs;
  Progress progress("eq search", layers.size(), ctx.options.progress, "layers");
  for (size_t first = 0; first < layers.size();) {
    size_t take = fetch_inputs(ctx, layers, first, count, inputs);
    for (size_t l = 0; l < take; ++l) {
      const Layer& layer = layers[first + l];
      const Node& node = ctx.graph.nodes[layer.node];
      try {
        LayerSearch search(ctx, layer, std::move(inputs[l]));
        search.search_weights();
        search.search_input();
      } catch (Error& e) {
        e.append_context("eq search of " + node.describe());
        throw;
      }
      log::debug("eq: ", node.describe(), " refined");
      progress.update(first + l + 1);
    }
    first += take;
  }
  progress.finish();
}

}  // namespace ptq::calib
