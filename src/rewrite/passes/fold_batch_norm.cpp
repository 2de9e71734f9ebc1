// SPDX-License-Identifier: Apache-2.0
// fold_batch_norm: Conv/ConvTranspose followed by an inference-mode BatchNormalization becomes one
// Conv. Without it the BatchNormalization stays float between the Conv's Q/DQ and the next op's,
// which blocks ONNX Runtime's QLinearConv fusion and quantizes the Conv output before the affine step.
//
//   Before:  X → Conv(W, B) → Y → BatchNormalization(γ, β, μ, σ², ε) → Z
//   After:   X → Conv(W', B') → Z
//   with, per output channel o:  f_o = γ_o / √(σ²_o + ε)
//            W'[o, ...] = W[o, ...] · f_o                         (Conv: W is [M, C/g, k...])
//            W'[c, m, ...] = W[c, m, ...] · f_{g·(M/g) + m}       (ConvTranspose: W is [C, M/g, k...],
//                                                                  input channel c in group g)
//            B'_o = (B_o − μ_o) · f_o + β_o                        (B = 0 when absent)
// computed in double, stored as float32. Conditions: W, B and the four BN inputs are constants
// (initializers or Constant nodes) of float32; the BN has one output, no training_mode, spatial ≠ 0;
// Y is read only by the BN and is not a graph output. W' and B' are new initializers ("<W>_bn",
// "<Z>_bias_bn"); float tensors no longer read (old W, B, BN parameters) are dropped.
#include <cmath>

#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "../rewrite_internal.h"

namespace ptq::rewrite {
namespace {

struct Fold {
  const Node* conv = nullptr;
  const Node* bn = nullptr;
  std::vector<double> factor, shift;  // per output channel: y·factor + shift
};

const Tensor* float_weight(const Graph& g, const std::string& name) {
  const Tensor* t = name.empty() ? nullptr : g.weight(name);
  return t && t->dtype() == DType::Float32 ? t : nullptr;
}

// The fold for BN node `bn`, or an empty Fold when the pattern does not apply.
Fold match(const Graph& g, const Node& bn) {
  Fold f;
  if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || bn.attr_int("training_mode", 0) != 0 ||
      bn.attr_int("spatial", 1) == 0)
    return f;
  for (size_t i = 1; i < bn.outputs.size(); ++i)
    if (!bn.outputs[i].empty()) return f;
  const std::string& y = bn.input(0);
  const int p = g.producer(y);
  if (p < 0 || g.consumers(y).size() != 1 || g.is_graph_output(y)) return f;
  const Node& conv = g.nodes[static_cast<size_t>(p)];
  if ((conv.op_type != "Conv" && conv.op_type != "ConvTranspose") || !conv.domain.empty()) return f;
  const Tensor* w = float_weight(g, conv.input(1));
  if (!w || w->rank() < 3 || (conv.has_input(2) && !float_weight(g, conv.input(2)))) return f;
  const int64_t m = conv.op_type == "Conv" ? w->dim(0) : w->dim(1) * conv.attr_int("group", 1);
  const Tensor* params[4];
  for (size_t i = 0; i < 4; ++i) {
    params[i] = float_weight(g, bn.input(i + 1));
    if (!params[i] || params[i]->numel() != m) return f;
  }
  const double eps = bn.attr_float("epsilon", 1e-5f);
  for (int64_t o = 0; o < m; ++o) {
    const double gamma = params[0]->data<float>()[o], beta = params[1]->data<float>()[o];
    const double mean = params[2]->data<float>()[o], var = params[3]->data<float>()[o];
    const double factor = gamma / std::sqrt(var + eps);
    f.factor.push_back(factor);
    f.shift.push_back(beta - mean * factor);
  }
  f.conv = &conv;
  f.bn = &bn;
  return f;
}

// W' (see the header comment).
Tensor folded_weight(const Tensor& w, const Node& conv, const std::vector<double>& factor) {
  Tensor out(DType::Float32, w.shape());
  const float* src = w.data<float>();
  float* dst = out.data<float>();
  const int64_t inner = w.numel() / (w.dim(0) * w.dim(1));
  const bool transpose = conv.op_type == "ConvTranspose";
  const int64_t group = conv.attr_int("group", 1), per_group_in = w.dim(0) / std::max<int64_t>(group, 1);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t c = i / (w.dim(1) * inner), m = (i / inner) % w.dim(1);
    const int64_t o = transpose ? (c / per_group_in) * w.dim(1) + m : c;
    dst[i] = static_cast<float>(src[i] * factor[static_cast<size_t>(o)]);
  }
  return out;
}

Tensor folded_bias(const Graph& g, const Fold& f) {
  const Tensor* b = f.conv->has_input(2) ? g.weight(f.conv->input(2)) : nullptr;
  Tensor out(DType::Float32, {static_cast<int64_t>(f.factor.size())});
  for (size_t o = 0; o < f.factor.size(); ++o) {
    const double bias = b ? b->data<float>()[o] : 0.0;
    out.data<float>()[o] = static_cast<float>(bias * f.factor[o] + f.shift[o]);
  }
  return out;
}

}  // namespace

PassResult fold_batch_norm(const onnx::ModelProto& model) {
  GraphOptions options;
  options.infer_shapes = false;
  const Graph g = build_graph(model, options);
  PassResult r{model, 0};
  onnx::GraphProto& gp = *r.model.mutable_graph();
  Names names(gp);
  std::set<int> removed;             // proto indices of folded BN nodes
  std::set<std::string> candidates;  // float tensors that may no longer be read
  for (const auto& node : g.nodes) {
    Fold f = match(g, node);
    if (!f.conv) continue;
    const std::string& z = f.bn->outputs[0];
    onnx::NodeProto& conv = *gp.mutable_node(f.conv->proto_index);
    const std::string w_name = names.unique(f.conv->input(1) + "_bn"), b_name = names.unique(z + "_bias_bn");
    *gp.add_initializer() = onnx_io::tensor_to_proto(folded_weight(*g.weight(f.conv->input(1)), *f.conv, f.factor), w_name);
    *gp.add_initializer() = onnx_io::tensor_to_proto(folded_bias(g, f), b_name);
    for (const auto& in : f.conv->inputs) candidates.insert(in);
    for (const auto& in : f.bn->inputs) candidates.insert(in);
    conv.set_input(1, w_name);
    if (conv.input_size() < 3) conv.add_input(b_name);
    else conv.set_input(2, b_name);
    conv.set_output(0, z);
    removed.insert(f.bn->proto_index);
    ++r.changed;
  }
  if (!r.changed) return r;
  for (auto it = removed.rbegin(); it != removed.rend(); ++it) gp.mutable_node()->DeleteSubrange(*it, 1);
  drop_unread_weights(gp, g, candidates);
  return r;
}

}  // namespace ptq::rewrite
