// SPDX-License-Identifier: Apache-2.0
// Bias correction (Nagel et al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
// Correction", section 4.2, with empirical means; OpenVINO's FastBiasCorrection). Rounding the weights
// shifts the mean of every output channel by (W_q - W) · E[x]; subtracting that shift from the bias
// removes the systematic part of the weight error, which depthwise-heavy nets (MobileNets, YOLOX)
// accumulate layer after layer. Per layer, with E[x] the per-channel mean of its input over the
// calibration samples (calib::channel_means):
//   Conv  W [M, C/g, k...]:  c[m] = sum_{i, k} (W_q - W)[m, i, k] · E[x][(m / (M/g)) · C/g + i]
//   Gemm  (beta = 1):        c[n] = alpha · sum_k (op(B)_q - op(B))[k, n] · E[op(A)][k]
//   new bias b'[o] = b[o] - c[o]   (b = 0 when the layer had none), computed in double
// Layers: Conv and Gemm whose weight the plan quantizes for that node and the table holds, whose bias
// (if any) is a float32 weight read by that node only, and whose input is not a weight. Padding taps
// (zeros) are not excluded from E[x]. The corrected bias is a new initializer "<output>_bias_corrected";
// the old one is dropped when nothing else reads it. A layer whose weights already lie on their grid
// (W_q = W, every c[o] = 0: e.g. weights AdaRound rounded, whose bias its own pass corrects) keeps its
// bias.
#include <algorithm>
#include <cmath>

#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/quant/scale.h"
#include "ptq/rewrite/passes.h"
#include "../rewrite_internal.h"

namespace ptq::rewrite {
namespace {

struct Layer {
  const Node* node = nullptr;
  const Tensor* weight = nullptr;
  const Tensor* bias = nullptr;  // nullptr: none
  const QParams* qparams = nullptr;
  int input_axis = 1;            // channel axis of input 0 whose means the correction needs
};

// The layer at node i, or an empty Layer when bias correction does not apply.
Layer match(const Graph& g, const QuantPlan& plan, const calib::CalibTable& table, size_t i) {
  Layer l;
  const Node& n = g.nodes[i];
  const bool conv = n.op_type == "Conv", gemm = n.op_type == "Gemm";
  if (!n.domain.empty() || (!conv && !gemm) || !n.has_input(1) || g.is_weight(n.input(0))) return l;
  auto planned = plan.tensors.find(n.input(1));
  if (planned == plan.tensors.end() || planned->second.kind != TensorPlan::Kind::Weight) return l;
  const auto& readers = planned->second.readers;
  if (std::find(readers.begin(), readers.end(), static_cast<int>(i)) == readers.end()) return l;
  auto entry = table.tensors.find(n.input(1));
  const Tensor* w = g.weight(n.input(1));
  if (entry == table.tensors.end() || !w || w->dtype() != DType::Float32) return l;
  const Tensor* b = n.has_input(2) ? g.weight(n.input(2)) : nullptr;
  if (n.has_input(2) && (!b || b->dtype() != DType::Float32 || g.consumers(n.input(2)).size() != 1)) return l;
  int64_t outputs = 0;
  if (conv) {
    if (w->rank() < 3) return l;
    outputs = w->dim(0);
  } else {
    if (w->rank() != 2 || n.attr_float("beta", 1.0f) != 1.0f) return l;
    outputs = n.attr_int("transB", 0) ? w->dim(0) : w->dim(1);
    l.input_axis = n.attr_int("transA", 0) ? 0 : 1;
  }
  if (b && b->numel() != outputs) return l;
  l.node = &n;
  l.weight = w;
  l.bias = b;
  l.qparams = &entry->second.qparams;
  return l;
}

// c[o] of the header comment; empty when the means do not fit the weight.
std::vector<double> shift_of(const Layer& l, const std::vector<double>& mean) {
  const Tensor wq = fake_quantize(*l.weight, *l.qparams);
  const float* w = l.weight->data<float>();
  const float* q = wq.data<float>();
  std::vector<double> c;
  if (l.node->op_type == "Conv") {
    const int64_t m = l.weight->dim(0), cg = l.weight->dim(1), k = l.weight->numel() / (m * cg);
    const int64_t group = l.node->attr_int("group", 1), mg = group > 0 ? m / group : 0;
    if (mg <= 0 || static_cast<int64_t>(mean.size()) != cg * group) return {};
    c.assign(static_cast<size_t>(m), 0.0);
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < cg; ++i) {
        double d = 0.0;
        for (int64_t t = 0; t < k; ++t) {
          const int64_t at = (o * cg + i) * k + t;
          d += static_cast<double>(q[at]) - static_cast<double>(w[at]);
        }
        c[static_cast<size_t>(o)] += d * mean[static_cast<size_t>((o / mg) * cg + i)];
      }
    return c;
  }
  const bool trans_b = l.node->attr_int("transB", 0) != 0;
  const int64_t kdim = trans_b ? l.weight->dim(1) : l.weight->dim(0), n = trans_b ? l.weight->dim(0) : l.weight->dim(1);
  if (static_cast<int64_t>(mean.size()) != kdim) return {};
  const double alpha = l.node->attr_float("alpha", 1.0f);
  c.assign(static_cast<size_t>(n), 0.0);
  for (int64_t kk = 0; kk < kdim; ++kk)
    for (int64_t o = 0; o < n; ++o) {
      const int64_t at = trans_b ? o * kdim + kk : kk * n + o;
      c[static_cast<size_t>(o)] += alpha * (static_cast<double>(q[at]) - static_cast<double>(w[at])) * mean[static_cast<size_t>(kk)];
    }
  return c;
}

// Calls fn(layer, corrected bias) for every layer bias correction applies to.
template <class Fn>
void for_each_correction(const Graph& g, const QuantPlan& plan, const calib::CalibTable& table,
                         const std::map<std::string, std::vector<double>>& means, Fn fn) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Layer l = match(g, plan, table, i);
    if (!l.node) continue;
    auto mean = means.find(l.node->input(0));
    if (mean == means.end()) continue;
    const std::vector<double> c = shift_of(l, mean->second);
    if (std::all_of(c.begin(), c.end(), [](double v) { return v == 0.0; })) continue;  // also: empty
    Tensor bias(DType::Float32, l.bias ? l.bias->shape() : Shape{static_cast<int64_t>(c.size())});
    for (size_t o = 0; o < c.size(); ++o)
      bias.data<float>()[o] = static_cast<float>((l.bias ? static_cast<double>(l.bias->data<float>()[o]) : 0.0) - c[o]);
    fn(l, std::move(bias));
  }
}

}  // namespace

std::map<std::string, int> bias_correction_inputs(const Graph& graph, const QuantPlan& plan, const calib::CalibTable& table) {
  std::map<std::string, int> out;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (Layer l = match(graph, plan, table, i); l.node) out[l.node->input(0)] = l.input_axis;
  return out;
}

Graph correct_graph_biases(const Graph& g, const QuantPlan& plan, const calib::CalibTable& table,
                           const std::map<std::string, std::vector<double>>& means) {
  Graph out = g;
  for_each_correction(g, plan, table, means, [&](const Layer& l, Tensor bias) {
    const size_t i = static_cast<size_t>(l.node - g.nodes.data());
    Node& node = out.nodes[i];
    std::string name = node.outputs[0] + "_bias_corrected";
    while (out.weights.count(name) || out.producer(name) >= 0) name += "_";
    out.weights[name] = Weight{std::move(bias), WeightSource::Initializer, ""};
    if (node.inputs.size() < 3) node.inputs.resize(3);
    node.inputs[2] = name;
    out.consumer_index[name] = {static_cast<int>(i)};
  });
  return out;
}

PassResult correct_biases(const onnx::ModelProto& model, const Graph& g, const QuantPlan& plan, const calib::CalibTable& table,
                          const std::map<std::string, std::vector<double>>& means) {
  PassResult r{model, 0};
  onnx::GraphProto& gp = *r.model.mutable_graph();
  Names names(gp);
  std::set<std::string> candidates;
  for_each_correction(g, plan, table, means, [&](const Layer& l, const Tensor& bias) {
    if (l.node->proto_index < 0) return;
    const std::string name = names.unique(l.node->outputs[0] + "_bias_corrected");
    *gp.add_initializer() = onnx_io::tensor_to_proto(bias, name);
    onnx::NodeProto& node = *gp.mutable_node(l.node->proto_index);
    if (l.bias) candidates.insert(l.node->input(2));
    if (node.input_size() < 3) node.add_input(name);
    else node.set_input(2, name);
    ++r.changed;
  });
  if (r.changed) drop_unread_weights(gp, g, candidates);
  return r;
}

}  // namespace ptq::rewrite
