// SPDX-License-Identifier: Apache-2.0
// SmoothQuant (Xiao et al. 2022, arXiv 2211.10438): moves activation outliers into the weights, a float
// pass run before calibration. For every activation X read as input A by MatMul/Gemm nodes with a
// constant 2-D weight (Gemm: transA = 0), per input channel j (X's last axis):
//   s_j = max|X_j|^α / max|W_j|^(1−α)      max|X_j| over the calibration samples (calib::channel_absmax),
//                                           max|W_j| over every such reader of X (row j of B [K,N], column j
//                                           of a transB Gemm's B [N,K]); s_j = 1 when either is 0
//   Y = (X · diag(s)⁻¹) · (diag(s) · W)     so the readers' weights get rows scaled by s, and X becomes X/s:
//   - folded into X's producer when X has no other reader (but Shape/Size) and is not a graph output:
//       LayerNormalization (last axis, constant γ [, β]):  γ/s, β/s
//       MatMul with a constant B [.., K]:                  columns of B / s
//       Gemm with a constant B (and C of K values):       output channels of B / s, C / s
//       Mul by a constant c (1 or K values):               c / s
//       Add of a constant b (1 or K values) to the output of a foldable MatMul/Gemm read only by it:
//                                                          b / s and that MatMul/Gemm's columns / s
//   - else through an inserted Mul "<X>_SmoothQuant_Mul" writing "<X>_smoothed" (1/s, an initializer of
//     K values), which the readers then read.
// New values are new initializers "<name>_smoothed"; weights nobody reads any more are dropped. The float
// model computes the same function (up to float rounding).
#include <algorithm>
#include <cmath>
#include <map>

#include "../rewrite_internal.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"

namespace ptq::rewrite {
namespace {

constexpr double kScaleMin = 1e-5, kScaleMax = 1e5;  // s is clamped to this range

struct Reader {
  int node = -1;
  const Tensor* w = nullptr;
  bool trans = false;  // weight [N, K] (Gemm transB = 1): channel j is column j
};

// The reader of X at node i, when it is a MatMul/Gemm reading X as A with a constant 2-D float weight.
Reader smoothable(const Graph& g, int i, const std::string& x) {
  const Node& n = g.nodes[static_cast<size_t>(i)];
  const bool matmul = n.op_type == "MatMul", gemm = n.op_type == "Gemm";
  if (!n.domain.empty() || (!matmul && !gemm) || n.input(0) != x || n.input(1) == x) return {};
  if (gemm && n.attr_int("transA", 0) != 0) return {};
  const Tensor* w = g.weight(n.input(1));
  if (!w || w->dtype() != DType::Float32 || w->rank() != 2) return {};
  return {i, w, gemm && n.attr_int("transB", 0) != 0};
}

int64_t channels_of(const Reader& r) { return r.trans ? r.w->dim(1) : r.w->dim(0); }

// t · f[j] along the last axis (t has K values on its last axis, or 1 value: then it becomes [K]).
Tensor scale_last_axis(const Tensor& t, const std::vector<double>& f) {
  const int64_t k = static_cast<int64_t>(f.size());
  Tensor out = t.numel() == 1 ? Tensor(DType::Float32, {k}) : Tensor(DType::Float32, t.shape());
  const float* in = t.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) out.data<float>()[i] = static_cast<float>(in[t.numel() == 1 ? 0 : i] * f[static_cast<size_t>(i % k)]);
  return out;
}

// Rows (trans: columns) j of a 2-D weight times f[j].
Tensor scale_rows(const Tensor& w, const std::vector<double>& f, bool columns) {
  Tensor out(DType::Float32, w.shape());
  const int64_t cols = w.dim(1);
  for (int64_t i = 0; i < w.numel(); ++i)
    out.data<float>()[i] = static_cast<float>(w.data<float>()[i] * f[static_cast<size_t>(columns ? i % cols : i / cols)]);
  return out;
}

class Smoother {
 public:
  Smoother(const onnx::ModelProto& model, const Graph& g) : g_(g), model_(model), names_(model.graph()) {}

  SmoothQuantResult finish() {
    onnx::GraphProto& gp = *model_.mutable_graph();
    insert_nodes_after(gp, inserted_);  // each Mul right after X's producer
    drop_unread_weights(gp, g_, replaced_);
    result_.model = std::move(model_);
    return std::move(result_);
  }

  void smooth(const std::string& x, const std::vector<double>& xmax, float alpha) {
    std::vector<Reader> readers = readers_of(x, static_cast<int64_t>(xmax.size()));
    if (readers.empty()) return;
    std::vector<double> s(xmax.size(), 1.0);
    for (size_t j = 0; j < xmax.size(); ++j) {
      double wmax = 0.0;
      for (const Reader& r : readers)
        for (int64_t o = 0, n = r.trans ? r.w->dim(0) : r.w->dim(1); o < n; ++o)
          wmax = std::max(wmax, std::fabs(static_cast<double>(r.w->data<float>()[r.trans ? o * r.w->dim(1) + static_cast<int64_t>(j)
                                                                                         : static_cast<int64_t>(j) * n + o])));
      if (xmax[j] > 0.0 && wmax > 0.0) s[j] = std::clamp(std::pow(xmax[j], alpha) / std::pow(wmax, 1.0 - alpha), kScaleMin, kScaleMax);
    }
    apply(x, s);
  }

  std::vector<Reader> readers_of(const std::string& x, int64_t channels) const {
    std::vector<Reader> readers;
    for (int c : g_.consumers(x))
      if (Reader r = smoothable(g_, c, x); r.w && channels_of(r) == channels) readers.push_back(r);
    return readers;
  }

  // X ← X / s (folded into its producer, or through a Mul), its readers' weight rows ← rows · s.
  void apply(const std::string& x, const std::vector<double>& s) {
    std::vector<Reader> readers = readers_of(x, static_cast<int64_t>(s.size()));
    if (readers.empty()) return;
    std::vector<double> inv(s.size());
    for (size_t j = 0; j < s.size(); ++j) inv[j] = 1.0 / s[j];
    for (const Reader& r : readers) replace_input(r.node, 1, scale_rows(*r.w, s, r.trans));
    size_t value_readers = 0;  // Shape/Size read X's shape only, which 1/s does not change
    for (int c : g_.consumers(x)) value_readers += g_.nodes[static_cast<size_t>(c)].op_type != "Shape" && g_.nodes[static_cast<size_t>(c)].op_type != "Size";
    const bool alone = value_readers == readers.size() && !g_.is_graph_output(x);
    if (alone && fold(g_.producer(x), inv, false)) {
      fold(g_.producer(x), inv, true);
      ++result_.folded;
    } else {
      log::debug("SmoothQuant: '", x, "' through a Mul (", alone ? "its producer cannot take 1/s" : "it has other readers", ")");
      insert_mul(x, inv, readers);
      ++result_.inserted;
    }
    ++result_.smoothed;
  }

 private:
  // Whether (apply: makes it so that) node p's output, X, is divided by s (multiplied by inv).
  bool fold(int p, const std::vector<double>& inv, bool apply) {
    if (p < 0) return false;
    const Node& n = g_.nodes[static_cast<size_t>(p)];
    const int64_t k = static_cast<int64_t>(inv.size());
    auto fits = [&](const std::string& name) {
      const Tensor* t = g_.weight(name);
      return t && t->dtype() == DType::Float32 && (t->numel() == 1 || (t->numel() == k && t->dim(t->rank() - 1) == k));
    };
    if (!n.domain.empty() || n.outputs.empty()) return false;
    if (n.op_type == "LayerNormalization") {
      const int rank = g_.info(n.input(0)) && g_.info(n.input(0))->has_shape ? static_cast<int>(g_.info(n.input(0))->dims.size()) : -1;
      const int64_t axis = n.attr_int("axis", -1);
      if ((axis != -1 && axis != rank - 1) || !fits(n.input(1)) || (n.has_input(2) && !fits(n.input(2)))) return false;
      for (size_t i = 1; apply && i < 3 && n.has_input(i); ++i) replace_input(p, i, scale_last_axis(*g_.weight(n.input(i)), inv));
      return true;
    }
    if (n.op_type == "MatMul" || n.op_type == "Gemm") {
      const Tensor* w = g_.weight(n.input(1));
      const bool trans = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
      if (!w || w->dtype() != DType::Float32 || w->rank() != 2 || (trans ? w->dim(0) : w->dim(1)) != k || g_.is_weight(n.input(0))) return false;
      const bool bias = n.op_type == "Gemm" && n.has_input(2);
      if (bias && !fits(n.input(2))) return false;
      if (apply) replace_input(p, 1, scale_rows(*w, inv, !trans));
      if (apply && bias) replace_input(p, 2, scale_last_axis(*g_.weight(n.input(2)), inv));
      return true;
    }
    if ((n.op_type == "Mul" || n.op_type == "Add") && n.inputs.size() == 2) {
      const size_t c = g_.is_weight(n.inputs[1]) ? 1 : 0;
      const std::string& y = n.inputs[1 - c];
      if (!fits(n.inputs[c]) || g_.is_weight(y)) return false;
      if (n.op_type == "Add") {  // b/s, and the operand's producer must fold too
        if (g_.consumers(y).size() != 1 || g_.is_graph_output(y)) return false;
        const int q = g_.producer(y);
        if (q < 0 || (g_.nodes[static_cast<size_t>(q)].op_type != "MatMul" && g_.nodes[static_cast<size_t>(q)].op_type != "Gemm") ||
            !fold(q, inv, apply))
          return false;
      }
      if (apply) replace_input(p, c, scale_last_axis(*g_.weight(n.inputs[c]), inv));
      return true;
    }
    return false;
  }

  void replace_input(int node, size_t slot, const Tensor& value) {
    const Node& n = g_.nodes[static_cast<size_t>(node)];
    const std::string name = names_.unique(n.input(slot) + "_smoothed");
    *model_.mutable_graph()->add_initializer() = onnx_io::tensor_to_proto(value, name);
    model_.mutable_graph()->mutable_node(n.proto_index)->set_input(static_cast<int>(slot), name);
    replaced_.insert(n.input(slot));
  }

  void insert_mul(const std::string& x, const std::vector<double>& inv, const std::vector<Reader>& readers) {
    const std::string scale = names_.unique(x + "_smooth_scale"), out = names_.unique(x + "_smoothed");
    const onnx::NodeProto mul = scale_mul(*model_.mutable_graph(), names_.unique(x + "_SmoothQuant_Mul"), x, scale,
                                          std::vector<float>(inv.begin(), inv.end()), {static_cast<int64_t>(inv.size())}, out);
    const int p = g_.producer(x);
    inserted_.emplace_back(p < 0 ? -1 : g_.nodes[static_cast<size_t>(p)].proto_index, mul);
    for (const Reader& r : readers) model_.mutable_graph()->mutable_node(g_.nodes[static_cast<size_t>(r.node)].proto_index)->set_input(0, out);
  }

  const Graph& g_;
  onnx::ModelProto model_;
  Names names_;
  std::set<std::string> replaced_;
  std::vector<std::pair<int, onnx::NodeProto>> inserted_;  // (producer's proto index, -1: first), Mul
  SmoothQuantResult result_;
};

}  // namespace

onnx::NodeProto scale_mul(onnx::GraphProto& gp, const std::string& name, const std::string& in, const std::string& scale,
                          const std::vector<float>& values, const Shape& shape, const std::string& out) {
  *gp.add_initializer() = onnx_io::tensor_to_proto(Tensor::from_vector<float>(values, shape), scale);
  onnx::NodeProto mul;
  mul.set_name(name);
  mul.set_op_type("Mul");
  mul.add_input(in);
  mul.add_input(scale);
  mul.add_output(out);
  return mul;
}

void insert_nodes_after(onnx::GraphProto& gp, const std::vector<std::pair<int, onnx::NodeProto>>& inserted) {
  if (inserted.empty()) return;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (const auto& [after, node] : inserted)
    if (after < 0) *nodes.Add() = node;
  for (int i = 0; i < gp.node_size(); ++i) {
    *nodes.Add() = gp.node(i);
    for (const auto& [after, node] : inserted)
      if (after == i) *nodes.Add() = node;
  }
  gp.mutable_node()->Swap(&nodes);
}

std::map<std::string, int> smooth_quant_inputs(const Graph& g) {
  std::map<std::string, int> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string& x = g.nodes[i].input(0);
    if (!x.empty() && !g.is_weight(x) && smoothable(g, static_cast<int>(i), x).w) out[x] = -1;
  }
  return out;
}

SmoothQuantResult smooth_quant(const onnx::ModelProto& model, const Graph& g, const std::map<std::string, std::vector<double>>& absmax,
                               float alpha) {
  if (!(alpha >= 0.0f && alpha <= 1.0f)) PTQ_FAIL(UsageError, "--smooth-quant: alpha ", alpha, " is outside [0, 1]");
  Smoother smoother(model, g);
  std::vector<std::string> order;  // activations in the order of their first smoothable reader
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string& x = g.nodes[i].input(0);
    if (absmax.count(x) && std::find(order.begin(), order.end(), x) == order.end() && smoothable(g, static_cast<int>(i), x).w)
      order.push_back(x);
  }
  for (const auto& x : order) smoother.smooth(x, absmax.at(x), alpha);
  return smoother.finish();
}

std::vector<int> smooth_quant_readers(const Graph& g, const std::string& x) {
  std::vector<int> readers;
  for (int c : g.consumers(x))
    if (smoothable(g, c, x).w) readers.push_back(c);
  return readers;
}

SmoothQuantResult scale_channels(const onnx::ModelProto& model, const Graph& g, const std::map<std::string, std::vector<double>>& scales) {
  Smoother smoother(model, g);
  for (size_t i = 0; i < g.nodes.size(); ++i) {  // in the order of their first reader, as smooth_quant
    const std::string& x = g.nodes[i].input(0);
    auto it = scales.find(x);
    if (it != scales.end() && smooth_quant_readers(g, x).front() == static_cast<int>(i)) smoother.apply(x, it->second);
  }
  return smoother.finish();
}

}  // namespace ptq::rewrite
