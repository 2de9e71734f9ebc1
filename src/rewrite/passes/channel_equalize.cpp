// SPDX-License-Identifier: Apache-2.0
// Channel equalization (passes.h): per-channel ranges for the tensors of a convolutional network where
// one per-tensor 8-bit grid cannot hold every channel, with the integer convolutions kept. A float
// pass run before calibration; the float model computes the same function (up to float rounding).
//
// For a tensor T with per-channel max|T_c| = a_c (axis 1, over the calibration samples), A = max_c a_c,
// the noise gain of a per-tensor grid over per-channel grids is G = mean_c (A / a_c)² (a_c taken at
// least A / 256: a channel below one step of the top channel's grid counts as that step). Tensors with
// G >= min_gain are equalized with s_c = a_c / A, at least 1/32 (1 for a dead channel): a channel
// nearly silent on the calibration samples is amplified 32x at most, since on other inputs it may
// not be (PP-OCRv4 det with a 10^4 floor: held-out output cosine 0.97 even with 16-bit grids, values
// amplified past the range clipped; YOLOX-nano's 8-bit cosine rose from 0.945 to 0.959 with 1/32):
//   - T the output X of a Conv (constant weight, constant or no bias) read only by element-wise
//     activations (channelwise_activation_ops(); a Mul only of X, a constant, or another reader's
//     output, as SiLU's X · σ(X)): the Conv's output channels are divided by s (weight and bias rows
//     / s_c), written to "<X>_equalized" (every channel spans the same range, so the convolution's
//     output grid holds them all); a Mul "<X>_EqualizeRestore_Mul" by s ([C, 1, ..]) writes X again.
//     X and its activation readers stay float (KeptFloat); the restoring Mul quantizes only its input.
//   - T an activation Y read only as input X of Convs with constant weights: a Mul
//     "<Y>_Equalize_Mul" by 1/s writes "<Y>_equalized", which the Convs read, their weights' input
//     channels multiplied by s (SmoothQuant with alpha 1 for convolutions; the channel_scale rule
//     quantizes only the Mul's output).
// New weights are new initializers "<name>_equalized"; weights nobody reads any more are dropped.
#include <algorithm>
#include <cmath>

#include "../rewrite_internal.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"

namespace ptq::rewrite {
namespace {

constexpr double kScaleMin = 1.0 / 32;  // s_c floor: see the header comment
constexpr double kStepFloor = 1.0 / 256.0;  // a_c counts as at least this share of A in the gain

const Node& node_at(const Graph& g, int i) { return g.nodes[static_cast<size_t>(i)]; }

// The Conv writing X, when X is read only by channelwise_activation_ops (see the header): its node index,
// else -1.
int equalizable_output(const Graph& g, const std::string& x) {
  const int p = g.producer(x);
  if (p < 0 || !constant_conv_weight(g, node_at(g, p)) || node_at(g, p).outputs.size() != 1 || g.is_graph_output(x)) return -1;
  const std::vector<int> readers = g.consumers(x);
  if (readers.empty()) return -1;
  std::set<std::string> reader_outputs;
  for (int r : readers)
    for (const auto& o : node_at(g, r).outputs) reader_outputs.insert(o);
  for (int r : readers) {
    const Node& n = node_at(g, r);
    if (!n.domain.empty() || !channelwise_activation_ops().count(n.op_type) || n.outputs.empty()) return -1;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const std::string& in = n.inputs[i];
      const bool data = n.op_type == "Mul" ? (in == x || reader_outputs.count(in)) : (i == 0 && in == x);
      if (!in.empty() && !data && !g.is_weight(in)) return -1;
    }
  }
  return p;
}

// The Convs reading Y as their input X (every value reader of Y), else empty.
std::vector<int> equalizable_readers(const Graph& g, const std::string& y) {
  if (g.is_weight(y) || g.is_graph_output(y)) return {};
  std::vector<int> readers = g.consumers(y);
  for (int r : readers)
    if (!constant_conv_weight(g, node_at(g, r)) || node_at(g, r).input(0) != y || node_at(g, r).input(1) == y) return {};
  return readers;
}

std::vector<double> channel_scales(const std::vector<double>& a) {
  const double top = *std::max_element(a.begin(), a.end());
  std::vector<double> s(a.size(), 1.0);
  for (size_t c = 0; c < a.size(); ++c)
    if (a[c] > 0.0) s[c] = std::max(a[c] / top, kScaleMin);
  return s;
}

// Multiplies a Conv weight's output channels (axis 0), or its input channels (axis 1 times the group:
// [M, C / group, ..]), by f[channel].
void scale_conv_weight(Tensor& w, const std::vector<double>& f, bool input_channels, int64_t group) {
  const int64_t m = w.dim(0), cpg = w.dim(1), inner = w.numel() / (m * cpg), m_per_group = m / group;
  float* v = w.data<float>();
  for (int64_t o = 0; o < m; ++o)
    for (int64_t j = 0; j < cpg; ++j) {
      const double k = f[static_cast<size_t>(input_channels ? (o / m_per_group) * cpg + j : o)];
      for (int64_t i = 0; i < inner; ++i) v[(o * cpg + j) * inner + i] = static_cast<float>(v[(o * cpg + j) * inner + i] * k);
    }
}

void scale_vector(Tensor& b, const std::vector<double>& f) {
  for (int64_t i = 0; i < b.numel(); ++i) b.data<float>()[i] = static_cast<float>(b.data<float>()[i] * f[static_cast<size_t>(i)]);
}

std::vector<double> inverse(const std::vector<double>& s) {
  std::vector<double> inv(s.size());
  for (size_t c = 0; c < s.size(); ++c) inv[c] = 1.0 / s[c];
  return inv;
}

class Equalizer {
 public:
  Equalizer(const onnx::ModelProto& model, const Graph& g) : g_(g), model_(model), names_(model.graph()) {}

  // X ← X / s written by its Conv, restored by a Mul; X and its readers stay float.
  void equalize_output(const std::string& x, int conv, const std::vector<double>& s) {
    divide_output_channels(conv, s);
    const Node& p = node_at(g_, conv);
    const std::string scaled = names_.unique(x + "_equalized");
    model_.mutable_graph()->mutable_node(p.proto_index)->set_output(0, scaled);
    declare_like(*model_.mutable_graph(), x, scaled);
    insert_mul(conv, names_.unique(x + "_EqualizeRestore_Mul"), scaled, s, g_.weight(p.input(1))->rank() - 1, x);
    result_.kept_float.tensors.insert(x);
    for (int r : g_.consumers(x)) result_.kept_float.nodes_writing.insert(node_at(g_, r).outputs.at(0));
    ++result_.outputs;
  }

  // Y's Conv readers read Y / s — written by Y's producer when it is a Conv (its output channels / s:
  // cross-layer equalization), else through a Mul — their weights' input channels × s.
  void equalize_input(const std::string& y, const std::vector<int>& readers, const std::vector<double>& s) {
    const int p = g_.producer(y);
    const bool fold = p >= 0 && constant_conv_weight(g_, node_at(g_, p)) && node_at(g_, p).outputs.size() == 1;
    const std::string scaled = fold ? y : names_.unique(y + "_equalized");
    for (int r : readers) {
      scale_conv_weight(edit(r, 1), s, true, node_at(g_, r).attr_int("group", 1));
      model_.mutable_graph()->mutable_node(node_at(g_, r).proto_index)->set_input(0, scaled);
    }
    if (fold) {
      divide_output_channels(p, s);
    } else {
      declare_like(*model_.mutable_graph(), y, scaled);
      insert_mul(p, names_.unique(y + "_Equalize_Mul"), y, inverse(s), g_.weight(node_at(g_, readers.front()).input(1))->rank() - 1,
                 scaled);
    }
    ++result_.inputs;
  }

  EqualizeResult finish() {
    onnx::GraphProto& gp = *model_.mutable_graph();
    for (auto& [slot, value] : edits_) {
      const Node& n = node_at(g_, slot.first);
      const std::string name = names_.unique(n.input(slot.second) + "_equalized");
      *gp.add_initializer() = onnx_io::tensor_to_proto(value, name);
      gp.mutable_node(n.proto_index)->set_input(static_cast<int>(slot.second), name);
      replaced_.insert(n.input(slot.second));
    }
    insert_nodes_after(gp, inserted_);
    drop_unread_weights(gp, g_, replaced_);
    result_.model = std::move(model_);
    return std::move(result_);
  }

 private:
  // The new value of a node's weight input (a Conv's weight may be scaled twice: as the reader of an
  // equalized input and as the writer of an equalized output).
  Tensor& edit(int node, size_t slot) {
    auto it = edits_.find({node, slot});
    if (it == edits_.end()) it = edits_.emplace(std::make_pair(node, slot), *g_.weight(node_at(g_, node).input(slot))).first;
    return it->second;
  }

  void divide_output_channels(int conv, const std::vector<double>& s) {
    const std::vector<double> inv = inverse(s);
    scale_conv_weight(edit(conv, 1), inv, false, 1);
    if (node_at(g_, conv).has_input(2)) scale_vector(edit(conv, 2), inv);
  }

  // out = in · f along axis 1, f of shape [C, 1, ..] (`trailing` dims: the tensor's rank − 1), placed
  // after node `after` (-1: first).
  void insert_mul(int after, const std::string& node_name, const std::string& in, const std::vector<double>& f, int64_t trailing,
                  const std::string& out) {
    std::vector<int64_t> shape(static_cast<size_t>(std::max<int64_t>(trailing, 1)), 1);
    shape[0] = static_cast<int64_t>(f.size());
    const onnx::NodeProto mul = scale_mul(*model_.mutable_graph(), node_name, in, names_.unique(node_name + "_scale"),
                                          std::vector<float>(f.begin(), f.end()), shape, out);
    inserted_.emplace_back(after < 0 ? -1 : node_at(g_, after).proto_index, mul);
  }

  const Graph& g_;
  onnx::ModelProto model_;
  Names names_;
  std::set<std::string> replaced_;
  std::map<std::pair<int, size_t>, Tensor> edits_;  // (node, input slot) → new weight
  std::vector<std::pair<int, onnx::NodeProto>> inserted_;
  EqualizeResult result_;
};

}  // namespace

const std::set<std::string>& channelwise_activation_ops() {
  static const std::set<std::string> ops = {"Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Relu", "LeakyRelu", "Elu",
                                            "Selu",    "Softplus",    "Clip",      "PRelu", "Mul"};
  return ops;
}

const Tensor* constant_conv_weight(const Graph& g, const Node& n) {
  if (!n.domain.empty() || n.op_type != "Conv" || n.inputs.size() < 2) return nullptr;
  const Tensor* w = g.weight(n.input(1));
  if (!w || w->dtype() != DType::Float32 || w->rank() < 3 || g.is_weight(n.input(0))) return nullptr;
  if (n.has_input(2)) {
    const Tensor* b = g.weight(n.input(2));
    if (!b || b->dtype() != DType::Float32 || b->numel() != w->dim(0)) return nullptr;
  }
  return w;
}

double noise_gain(const std::vector<double>& a) {
  const double top = a.empty() ? 0.0 : *std::max_element(a.begin(), a.end());
  if (!(top > 0.0)) return 1.0;
  double sum = 0.0;
  for (double v : a) sum += std::pow(top / std::max(v, top * kStepFloor), 2.0);
  return sum / static_cast<double>(a.size());
}

std::map<std::string, int> equalize_inputs(const Graph& g) {
  std::map<std::string, int> out;
  for (const Node& n : g.nodes)
    for (const auto& t : n.outputs)
      if (!t.empty() && (equalizable_output(g, t) >= 0 || !equalizable_readers(g, t).empty())) out[t] = 1;
  for (const ValueInfo& in : g.inputs)
    if (!equalizable_readers(g, in.name).empty()) out[in.name] = 1;
  return out;
}

EqualizeResult equalize_channels(const onnx::ModelProto& model, const Graph& g, const std::map<std::string, std::vector<double>>& absmax,
                                 double min_gain) {
  Equalizer eq(model, g);
  for (const auto& [t, a] : absmax) {  // name order: deterministic
    const double gain = a.empty() ? 0.0 : noise_gain(a);
    if (gain < min_gain) continue;
    const std::vector<double> s = channel_scales(a);
    if (const int conv = equalizable_output(g, t); conv >= 0 && g.weight(node_at(g, conv).input(1))->dim(0) == static_cast<int64_t>(a.size())) {
      log::debug("channel equalization: output '", t, "' (noise gain ", gain, ")");
      eq.equalize_output(t, conv, s);
      continue;
    }
    const std::vector<int> readers = equalizable_readers(g, t);
    bool fits = !readers.empty();
    for (int r : readers) {
      const Tensor& w = *g.weight(node_at(g, r).input(1));
      fits = fits && w.dim(1) * node_at(g, r).attr_int("group", 1) == static_cast<int64_t>(a.size());
    }
    if (!fits) continue;
    log::debug("channel equalization: input '", t, "' (noise gain ", gain, ")");
    eq.equalize_input(t, readers, s);
  }
  return eq.finish();
}

}  // namespace ptq::rewrite
