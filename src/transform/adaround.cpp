// SPDX-License-Identifier: Apache-2.0
// adaround (see adaround.h), in two passes over the samples:
//   1. the FP32 model (reference) once, every AdaRound layer's output at its sampled positions kept as
//      its targets (f applied): memory max_columns · Σ output channels;
//   2. the quantized model (QuantSim, every quantizer on) advanced layer by layer on all samples at once:
//      each sample's trace keeps only the tensors later nodes read. At each layer its input columns are
//      read at the same positions, the rounding is learned (blocks of output channels on all threads),
//      and the new weight goes into the simulator's graph before the samples move on, so every later
//      layer sees the AdaRounded layers above it.
#include "ptq/transform/adaround.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>
#include <optional>

#include "ptq/quant/scale.h"
#include "ptq/search/quant_sim.h"
#include "ptq/transform/weight_method.h"
#include "ptq/util/log.h"
#include "ptq/util/parallel.h"
#include "ptq/util/progress.h"
#include "ptq/util/splitmix.h"
#include "rounding.h"

namespace ptq::transform {
namespace {

using Kind = rewrite::TensorPlan::Kind;
constexpr int64_t kBlockRows = 32;  // output channels per optimisation task (groups of smaller ones are packed)

struct Candidate {
  LinearLayer layer;
  std::string label;
  OutputActivation activation;
};

std::string label_of(const Node& n) { return n.name.empty() ? n.op_type + " writing '" + n.outputs[0] + "'" : n.name; }

// f: the Relu or Clip that alone reads the layer's output (Clip bounds constant).
OutputActivation activation_after(const Graph& g, const LinearLayer& l) {
  OutputActivation a;
  const std::vector<int> readers = g.consumers(l.output);
  if (readers.size() != 1 || g.is_graph_output(l.output)) return a;
  const Node& n = g.nodes[static_cast<size_t>(readers[0])];
  if (!n.domain.empty() || n.input(0) != l.output) return a;
  if (n.op_type == "Relu") {
    a.kind = OutputActivation::Kind::Relu;
  } else if (n.op_type == "Clip") {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (n.opset < 11) {
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    } else {
      for (size_t k = 1; k <= 2; ++k) {
        if (!n.has_input(k)) continue;
        const Tensor* b = g.weight(n.input(k));
        if (!b || b->dtype() != DType::Float32 || b->numel() != 1) return a;
        (k == 1 ? lo : hi) = b->data<float>()[0];
      }
    }
    a = OutputActivation{OutputActivation::Kind::Clip, lo, hi};
  }
  return a;
}

// The layers AdaRound applies to; the other Conv/Gemm/MatMul nodes with the reason into `skipped`.
std::vector<Candidate> candidates(const Graph& g, const rewrite::QuantPlan& plan,
                                  const std::map<std::string, QParams>& params, bool through_activation,
                                  std::vector<std::string>& skipped) {
  std::vector<Candidate> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!n.domain.empty() || (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul")) continue;
    const std::string label = label_of(n);
    std::string why;
    std::optional<LinearLayer> l = linear_layer(g, static_cast<int>(i), &why);
    if (l) {
      auto t = plan.tensors.find(l->weight);
      const auto p = params.find(l->weight);
      if (t == plan.tensors.end() || t->second.kind != Kind::Weight || t->second.integer || p == params.end() ||
          std::find(t->second.readers.begin(), t->second.readers.end(), static_cast<int>(i)) == t->second.readers.end())
        why = "its weight is not quantized";
      else if (qtype_max(p->second.type) - qtype_min(p->second.type) > 255)
        why = "its weight is quantized to more than 8 bits";
      else if (g.consumers(l->weight).size() != 1)
        why = "its weight is read by other nodes too";
      else if (p->second.axis >= 0 && p->second.axis != l->channel_axis())
        why = "its weight's per-channel axis is not the output channel";
    }
    if (!why.empty()) {
      skipped.push_back(label + ": " + why);
      continue;
    }
    Candidate c{*l, label, {}};
    if (through_activation) c.activation = activation_after(g, *l);
    out.push_back(std::move(c));
  }
  return out;
}

void apply(const OutputActivation& a, Eigen::MatrixXf& y) {
  if (a.kind == OutputActivation::Kind::Relu) y = y.cwiseMax(0.0f);
  if (a.kind == OutputActivation::Kind::Clip) y = y.cwiseMax(a.lo).cwiseMin(a.hi);
}

// A seeded permutation of n columns (Fisher-Yates on splitmix64).
std::vector<Eigen::Index> shuffled(Eigen::Index n, uint64_t seed) {
  std::vector<Eigen::Index> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  for (Eigen::Index i = n - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(splitmix64(seed) % static_cast<uint64_t>(i + 1))]);
  return order;
}

// A layer's collected data, shuffled (the same column order for every group): dense layers keep one
// row-major [depth, columns] input matrix per group; depthwise ones (one output channel per group) one
// [groups, columns] matrix per tap k, so that a task's groups are a block of rows of each.
struct LayerData {
  bool depthwise = false;
  std::vector<RowMatrix> x;                     // dense: per group; depthwise: per tap
  std::vector<RowMatrix> xf;                    // the FP32 inputs alike (QDrop), else empty
  std::vector<Eigen::MatrixXf> t;               // dense: per group [rows, columns]; depthwise: one [groups, columns]
  std::vector<Eigen::VectorXd> mean_x, mean_y;  // per group: column means of the inputs and of the targets before f
  Eigen::Index columns = 0;
};

// Inputs (per group [depth, columns]) shuffled into `x` (see LayerData), their memory released.
void shuffle_inputs(const LinearLayer& l, bool depthwise, const std::vector<Eigen::Index>& order,
                    std::vector<Columns>& inputs, std::vector<RowMatrix>& x) {
  const Eigen::Index columns = static_cast<Eigen::Index>(order.size());
  if (depthwise) x.assign(static_cast<size_t>(l.depth), RowMatrix(l.groups, columns));
  for (size_t g = 0; g < inputs.size(); ++g) {
    const Eigen::Map<const Eigen::MatrixXf> xg(inputs[g].data.data(), inputs[g].rows, columns);
    if (depthwise) {
      for (int64_t k = 0; k < l.depth; ++k)
        x[static_cast<size_t>(k)].row(static_cast<Eigen::Index>(g)) = xg.row(k)(Eigen::all, order);
    } else {
      x.emplace_back(xg(Eigen::all, order));
    }
    std::vector<float>().swap(inputs[g].data);
  }
}

LayerData shuffle(const Candidate& c, std::vector<Columns> inputs, std::vector<Columns> fp_inputs,
                  std::vector<Columns> targets, uint64_t seed, float holdout) {
  const LinearLayer& l = c.layer;
  LayerData d;
  d.depthwise = l.rows == 1 && l.groups > 1;
  d.columns = inputs.empty() ? 0 : inputs[0].cols;
  // the training columns shuffled, the held-out ones (the last samples') after them in sample order
  const Eigen::Index train = training_columns(d.columns, holdout);
  std::vector<Eigen::Index> order = shuffled(train, seed ^ static_cast<uint64_t>(l.node));
  for (Eigen::Index j = train; j < d.columns; ++j) order.push_back(j);
  if (d.depthwise) d.t.assign(1, Eigen::MatrixXf(l.groups, d.columns));
  for (size_t g = 0; g < inputs.size(); ++g) {
    const Eigen::Map<const Eigen::MatrixXf> xg(inputs[g].data.data(), inputs[g].rows, d.columns);
    const Eigen::Map<const Eigen::MatrixXf> tg(targets[g].data.data(), targets[g].rows, d.columns);
    d.mean_x.push_back(xg.cast<double>().rowwise().mean());
    d.mean_y.push_back(tg.cast<double>().rowwise().mean());
    if (d.depthwise)
      d.t[0].row(static_cast<Eigen::Index>(g)) = tg.row(0)(Eigen::all, order);
    else
      d.t.emplace_back(tg(Eigen::all, order));
    std::vector<float>().swap(targets[g].data);
  }
  shuffle_inputs(l, d.depthwise, order, inputs, d.x);
  if (!fp_inputs.empty()) shuffle_inputs(l, d.depthwise, order, fp_inputs, d.xf);
  for (auto& t : d.t) apply(c.activation, t);
  return d;
}

// One optimisation task: output channels [first, first + count) of the layer, all in one group
// (dense) or one per group (depthwise).
struct Task {
  int64_t first, count;
};

std::vector<Task> tasks_of(const LinearLayer& l, bool depthwise) {
  std::vector<Task> tasks;
  if (depthwise) {
    for (int64_t g = 0; g < l.groups; g += kBlockRows) tasks.push_back({g, std::min(kBlockRows, l.groups - g)});
    return tasks;
  }
  for (int64_t g = 0; g < l.groups; ++g)
    for (int64_t r = 0; r < l.rows; r += kBlockRows)
      tasks.push_back({g * l.rows + r, std::min(kBlockRows, l.rows - r)});
  return tasks;
}

// Learns the layer's rounding from its inputs and targets (per group, columns in the same order):
// returns the new weight, fills the report and, per output channel, the mean error left (W̃·E[X_q] +
// b − E[Y], what an in-pass bias correction removes).
Tensor round_layer(const Graph& g, const Candidate& c, QParams& q, std::vector<Columns> inputs,
                   std::vector<Columns> fp_inputs, std::vector<Columns> targets, const AdaRoundOptions& options,
                   AdaRoundLayer& report, std::vector<double>& shift) {
  AdaRoundOptions o = options;
  if (q.axis < 0 || qtype_max(q.type) - qtype_min(q.type) + 1 > o.scale_search_levels)
    o.scale_search = ScaleSearch::Off;  // one scale for all rows, or a fine grid
  const LinearLayer& l = c.layer;
  const Tensor& w = *g.weight(l.weight);
  const std::vector<float> rows = weight_rows(l, w), bias = bias_values(l, g);
  const LayerData d = shuffle(c, std::move(inputs), std::move(fp_inputs), std::move(targets), o.columns.seed, o.holdout);
  const bool fp = !d.xf.empty();
  const uint64_t mix_seed = o.columns.seed ^ (static_cast<uint64_t>(l.node) * 0x9e3779b97f4a7c15ull);
  report.columns = static_cast<size_t>(d.columns);
  const std::vector<Task> tasks = tasks_of(l, d.depthwise);
  // The mean output error of weights `rows_now` on X_q, per output channel: W·E[X_q] + b − E[Y].
  const auto mean_shift = [&](const std::vector<float>& rows_now) {
    std::vector<double> out(static_cast<size_t>(l.outputs()), 0.0);
    for (int64_t row = 0; row < l.outputs(); ++row) {
      const Eigen::VectorXd& mx = d.mean_x[static_cast<size_t>(row / l.rows)];
      double acc = bias[static_cast<size_t>(row)] - d.mean_y[static_cast<size_t>(row / l.rows)](row % l.rows);
      for (int64_t k = 0; k < l.depth; ++k)
        acc += static_cast<double>(rows_now[static_cast<size_t>(row * l.depth + k)]) * mx(k);
      out[static_cast<size_t>(row)] = acc;
    }
    return out;
  };
  // With bias correction the rounding is learned against the bias corrected for the FP32 weights (the
  // mean shift the layers above leave), so that it does not spend itself on a shift the bias removes.
  std::vector<double> pre(static_cast<size_t>(l.outputs()), 0.0);
  if (o.correct_bias) pre = mean_shift(rows);
  std::vector<RoundingResult> results(tasks.size());
  run_tasks(o.threads, tasks.size(), [&](size_t k) {
    const Task& task = tasks[k];
    RoundingProblem p;
    p.rows = task.count;
    p.depth = l.depth;
    p.weight.assign(rows.begin() + task.first * l.depth, rows.begin() + (task.first + task.count) * l.depth);
    for (int64_t i = task.first; i < task.first + task.count; ++i) {
      const size_t ch = q.axis >= 0 ? static_cast<size_t>(i) : 0;
      p.scale.push_back(q.scale[ch]);
      p.lo.push_back(static_cast<float>(qtype_min(q.type) - q.zero_point[ch]));
      p.hi.push_back(static_cast<float>(qtype_max(q.type) - q.zero_point[ch]));
      p.bias.push_back(static_cast<float>(bias[static_cast<size_t>(i)] - pre[static_cast<size_t>(i)]));
    }
    p.activation = c.activation;
    if (d.depthwise) {
      results[k] = learn_rounding_depthwise(p, d.x, task.first, d.t[0].middleRows(task.first, task.count), o,
                                            fp ? &d.xf : nullptr, mix_seed);
    } else {
      const size_t group = static_cast<size_t>(task.first / l.rows);
      results[k] = learn_rounding(p, d.x[group], d.t[group].middleRows(task.first % l.rows, task.count), o,
                                  fp ? &d.xf[group] : nullptr, mix_seed ^ (static_cast<uint64_t>(group) << 40));
    }
  });
  // The new weight: the learned integers as DequantizeLinear turns them into floats.
  std::vector<float> codes(rows.size());
  double err_nearest = 0.0, err = 0.0, energy = 0.0;
  for (size_t k = 0; k < tasks.size(); ++k) {
    const RoundingResult& r = results[k];
    std::copy(r.offsets.begin(), r.offsets.end(), codes.begin() + tasks[k].first * l.depth);
    if (q.axis >= 0)
      for (size_t i = 0; i < r.scale.size(); ++i) {
        report.rescaled += q.scale[static_cast<size_t>(tasks[k].first) + i] != r.scale[i];
        q.scale[static_cast<size_t>(tasks[k].first) + i] = r.scale[i];
      }
    for (size_t i = 0; i < r.error.size(); ++i) {
      err_nearest += r.error_nearest[i];
      err += r.error[i];
      energy += r.energy[i];
    }
    report.kept_nearest += r.kept_nearest;
    report.flipped += r.flipped;
  }
  report.error_nearest = energy > 0.0 ? err_nearest / energy : 0.0;
  report.error = energy > 0.0 ? err / energy : 0.0;
  QParams as_int32 = q;  // offsets are q − zero point: dequantize them with zero points 0, as (q − zp)·s
  as_int32.type = QType::Int32;
  std::fill(as_int32.zero_point.begin(), as_int32.zero_point.end(), 0);
  Tensor rounded = dequantize_tensor(cast_tensor(weight_from_rows(l, codes, w.shape()), DType::Int32), as_int32);
  shift = mean_shift(weight_rows(l, rounded));
  return rounded;
}

// The int32 parameters of the layer's planned bias for weight parameters `w` (scale s_x·s_w, as
// rewrite::resolve_params makes them); nullopt when the plan does not quantize the bias.
std::optional<QParams> bias_params_for(const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params,
                                       const LinearLayer& l, const QParams& w) {
  if (l.bias.empty()) return std::nullopt;
  const auto b = plan.tensors.find(l.bias);
  if (b == plan.tensors.end() || b->second.kind != Kind::Bias) return std::nullopt;
  const auto old = params.find(b->second.table_key());
  if (old == params.end()) return std::nullopt;
  const auto x = params.find(plan.tensors.at(b->second.bias_input).table_key());
  if (x == params.end()) return std::nullopt;
  QParams p = old->second;
  const double sx = x->second.scale[0];
  for (size_t c = 0; c < p.scale.size(); ++c)
    p.scale[c] = static_cast<float>(sx * static_cast<double>(w.scale[c % w.scale.size()]));
  return p;
}

// In-pass bias correction: b ← b − shift (Gemm: C ← C − shift / beta); nullopt when the layer has no
// bias of its own with one value per output channel.
std::optional<Tensor> corrected_bias(const Graph& g, const LinearLayer& l, const std::vector<double>& shift) {
  if (l.bias.empty() || g.consumers(l.bias).size() != 1 || g.weight(l.bias)->numel() != l.outputs())
    return std::nullopt;
  const Tensor& b = *g.weight(l.bias);
  Tensor out(DType::Float32, b.shape());
  for (int64_t o = 0; o < b.numel(); ++o)
    out.data<float>()[o] = static_cast<float>(b.data<float>()[o] - shift[static_cast<size_t>(o)] / l.beta);
  return out;
}

}  // namespace

calib::CalibTable rescaled_table(const calib::CalibTable& table, const std::map<std::string, QParams>& params) {
  calib::CalibTable out = table;
  for (const auto& [key, p] : params) {
    auto e = out.tensors.find(key);
    if (e == out.tensors.end()) PTQ_FAIL(Error, "AdaRound: the table has no entry for weight '", key, "'");
    e->second.qparams = p;
    for (size_t c = 0; c < e->second.range.size() && c < p.scale.size(); ++c)
      e->second.range[c] = Range{p.scale[c] * static_cast<float>(qtype_min(p.type) - p.zero_point[c]),
                                 p.scale[c] * static_cast<float>(qtype_max(p.type) - p.zero_point[c])};
  }
  return out;
}

AdaRoundResult kept_rounding(const AdaRoundResult& r, const rewrite::QuantPlan& plan) {
  AdaRoundResult out;
  out.skipped = r.skipped;
  out.samples = r.samples;
  out.iterations = r.iterations;
  out.seconds = r.seconds;
  out.float_inputs = r.float_inputs;
  for (const AdaRoundLayer& l : r.layers) {
    const auto t = plan.tensors.find(l.weight);
    if (t == plan.tensors.end() || t->second.kind != Kind::Weight || t->second.readers.empty() ||
        qtype_max(t->second.spec.type) - qtype_min(t->second.spec.type) > 255)
      continue;
    out.weights[l.weight] = r.weights.at(l.weight);
    if (l.bias_corrected) out.weights[l.bias] = r.weights.at(l.bias);
    if (const auto p = r.params.find(l.weight); p != r.params.end()) out.params.insert(*p);
    out.layers.push_back(l);
  }
  return out;
}

double AdaRoundResult::mean_error_nearest() const { return mean_of(layers, &AdaRoundLayer::error_nearest); }
double AdaRoundResult::mean_error() const { return mean_of(layers, &AdaRoundLayer::error); }

AdaRoundResult adaround(const Graph& graph, const rewrite::QuantPlan& plan,
                        const std::map<std::string, QParams>& params, const calib::DataReader& data,
                        const AdaRoundOptions& options, const Graph* reference) {
  const auto start = std::chrono::steady_clock::now();
  AdaRoundResult r;
  r.iterations = options.iterations;
  r.float_inputs = options.float_inputs;
  const Graph& ref = reference ? *reference : graph;
  const std::vector<Candidate> layers = candidates(graph, plan, params, options.through_activation, r.skipped);
  for (const auto& s : r.skipped) log::debug("AdaRound skips ", s);
  if (layers.empty()) return r;
  for (const auto& c : layers)
    if (ref.nodes.size() != graph.nodes.size() ||
        ref.nodes[static_cast<size_t>(c.layer.node)].outputs[0] != c.layer.output)
      PTQ_FAIL(Error, "AdaRound: the reference graph does not have the layers of the quantized one");

  // Pass 1: the FP32 outputs at the sampled positions.
  const size_t n = data.size();
  std::vector<LinearLayer> linear;
  for (const auto& c : layers) linear.push_back(c.layer);
  CollectedColumns targets = collect_columns(ref, linear, ColumnKind::Outputs, data,
                                             CollectOptions{options.columns, options.threads, options.progress, "AdaRound targets"});
  const std::vector<char>& used = targets.used;
  r.samples = targets.samples;

  // Pass 2: layer by layer through the quantized model (the FP32 one with float_inputs).
  Graph work = graph;  // shares the weights' buffers: rounded weights are assigned, never written in place
  // With float_inputs the simulator runs the FP32 model (no quantizer on, the layers above keep their
  // float weights): each layer's input is X itself.
  search::QuantSim sim(options.float_inputs ? ref : work, plan, params, options.threads);
  const search::GroupFlags on = sim.all(!options.float_inputs);
  std::vector<search::Trace> traces(n);
  // QDrop: the FP32 model advanced alongside, for the layers' FP32 inputs at the same positions.
  const bool drop = options.drop_probability > 0.0f;
  std::optional<search::QuantSim> fp_sim;
  if (drop) fp_sim.emplace(ref, plan, params, options.threads);
  const search::GroupFlags off = sim.all(false);
  std::vector<search::Trace> fp_traces(drop ? n : 0);
  for (size_t i = 0; i < n; ++i) {
    if (!used[i]) continue;
    const exec::TensorMap inputs = data.read(i).tensors;
    traces[i] = sim.start(inputs);
    if (drop) fp_traces[i] = fp_sim->start(inputs);
  }
  Progress progress("AdaRound", layers.size(), options.progress, "layers");
  for (size_t k = 0; k < layers.size(); ++k) {
    const Candidate& c = layers[k];
    const auto layer_start = std::chrono::steady_clock::now();
    const size_t node = static_cast<size_t>(c.layer.node);
    LayerColumns inputs(work, c.layer, ColumnKind::Inputs, n, options.columns);
    LayerColumns fp_inputs(ref, c.layer, ColumnKind::Inputs, drop ? n : 0, options.columns);
    run_tasks(options.threads, n, [&](size_t i) {
      if (!used[i]) return;
      sim.advance(traces[i], on, node);
      inputs.add(i, sim.input(traces[i], node, 0, on));
      if (!drop) return;
      fp_sim->advance(fp_traces[i], off, node);
      fp_inputs.add(i, fp_sim->input(fp_traces[i], node, 0, off));
    });
    AdaRoundLayer report{c.label, c.layer.op_type, c.layer.weight, c.layer.groups, c.layer.rows, c.layer.depth};
    std::vector<double> shift;
    QParams q = params.at(c.layer.weight);
    Tensor rounded = round_layer(work, c, q, inputs.take(), drop ? fp_inputs.take() : std::vector<Columns>{},
                                 std::move(targets.layers[k]), options, report, shift);
    work.weights[c.layer.weight].value = rounded;
    if (report.rescaled > 0) {
      sim.update_weight(c.layer.weight, q);
      if (std::optional<QParams> b = bias_params_for(plan, params, c.layer, q))
        sim.update_weight(plan.tensors.at(c.layer.bias).table_key(), *b);
      r.params[c.layer.weight] = q;
    } else {
      sim.update_weight(c.layer.weight);
    }
    if (std::optional<Tensor> b = options.correct_bias ? corrected_bias(work, c.layer, shift) : std::nullopt) {
      work.weights[c.layer.bias].value = *b;
      sim.update_weight(c.layer.bias);
      r.weights[c.layer.bias] = std::move(*b);
      report.bias_corrected = true;
      report.bias = c.layer.bias;
    }
    r.weights[c.layer.weight] = std::move(rounded);
    log::debug("AdaRound ", c.label, ": reconstruction error ", report.error_nearest, " -> ", report.error, " (",
               report.flipped, " weights flipped, ", report.kept_nearest, " channels kept nearest) in ",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - layer_start).count(), " s");
    r.layers.push_back(std::move(report));
    progress.update(k + 1);
  }
  progress.finish();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace ptq::transform
