// SPDX-License-Identifier: Apache-2.0
// LinearLayer and ColumnView (see linear_layer.h). Conv patches reuse the executor's window geometry
// and im2col (one output position at a time), so padding, strides, dilations and auto_pad mean here
// exactly what the Conv kernel computes.
#include "ptq/transform/linear_layer.h"

#include "../exec/kernels/window.h"
#include "ptq/util/error.h"

namespace ptq::transform {
namespace {

std::optional<LinearLayer> fail(std::string* why_not, const std::string& reason) {
  if (why_not) *why_not = reason;
  return std::nullopt;
}

const Tensor* float_weight(const Graph& g, const std::string& name) {
  const Tensor* t = name.empty() ? nullptr : g.weight(name);
  return t && t->dtype() == DType::Float32 ? t : nullptr;
}

}  // namespace

std::optional<LinearLayer> linear_layer(const Graph& graph, int node, std::string* why_not) {
  const Node& n = graph.nodes.at(static_cast<size_t>(node));
  const bool conv = n.op_type == "Conv", gemm = n.op_type == "Gemm", matmul = n.op_type == "MatMul";
  if (!n.domain.empty() || (!conv && !gemm && !matmul)) return fail(why_not, "not a Conv, Gemm or MatMul");
  const Tensor* w = n.has_input(1) ? float_weight(graph, n.input(1)) : nullptr;
  if (!w) return fail(why_not, "its weight (input 1) is not a float32 constant");
  if (!n.has_input(0) || graph.is_weight(n.input(0))) return fail(why_not, "its input 0 is a constant");
  if (n.outputs.empty() || n.outputs[0].empty()) return fail(why_not, "it has no output");
  LinearLayer l;
  l.node = node;
  l.op_type = n.op_type;
  l.input = n.input(0);
  l.weight = n.input(1);
  l.output = n.outputs[0];
  if (conv) {
    const int64_t groups = n.attr_int("group", 1), m = w->rank() >= 3 ? w->dim(0) : 0;
    if (m <= 0 || groups <= 0 || m % groups != 0)
      return fail(why_not, "its weight " + shape_str(w->shape()) + " does not fit group " + std::to_string(groups));
    l.groups = groups;
    l.rows = m / groups;
    l.depth = w->numel() / m;
  } else {
    if (w->rank() != 2) return fail(why_not, "its weight is not 2-D");
    l.transposed = matmul || n.attr_int("transB", 0) == 0;
    l.rows = l.transposed ? w->dim(1) : w->dim(0);
    l.depth = l.transposed ? w->dim(0) : w->dim(1);
    if (gemm) {
      l.trans_a = n.attr_int("transA", 0) != 0;
      l.alpha = n.attr_float("alpha", 1.0f);
      l.beta = n.attr_float("beta", 1.0f);
    }
  }
  if (n.has_input(2) && !matmul) {
    const Tensor* b = float_weight(graph, n.input(2));
    const bool per_output = b && (b->numel() == l.outputs() || (gemm && b->numel() == 1)) &&
                            (b->rank() <= 1 || (gemm && b->rank() == 2 && b->dim(0) == 1));
    if (!per_output)
      return fail(why_not, gemm ? "its C is not a constant of N (or 1) values" : "its bias is not a float32 constant");
    l.bias = n.input(2);
  }
  return l;
}

std::vector<float> weight_rows(const LinearLayer& l, const Tensor& weight) {
  const float* w = weight.data<float>();
  std::vector<float> rows(w, w + weight.numel());
  if (!l.transposed) return rows;
  const int64_t n = l.rows, k = l.depth;  // weight [K, N]
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i) rows[static_cast<size_t>(o * k + i)] = w[i * n + o];
  return rows;
}

Tensor weight_from_rows(const LinearLayer& l, const std::vector<float>& rows, const Shape& shape) {
  Tensor t(DType::Float32, shape);
  PTQ_CHECK(static_cast<int64_t>(rows.size()) == t.numel());
  float* w = t.data<float>();
  if (!l.transposed) {
    std::copy(rows.begin(), rows.end(), w);
    return t;
  }
  const int64_t n = l.rows, k = l.depth;
  for (int64_t o = 0; o < n; ++o)
    for (int64_t i = 0; i < k; ++i) w[i * n + o] = rows[static_cast<size_t>(o * k + i)];
  return t;
}

std::vector<float> bias_values(const LinearLayer& l, const Graph& graph) {
  std::vector<float> b(static_cast<size_t>(l.outputs()), 0.0f);
  if (l.bias.empty()) return b;
  const Tensor& t = *graph.weight(l.bias);
  const float* v = t.data<float>();
  for (size_t o = 0; o < b.size(); ++o) b[o] = l.beta * v[t.numel() == 1 ? 0 : o];
  return b;
}

struct ColumnView::Geometry {
  exec::WindowGeometry window;
};

ColumnView::ColumnView(const Graph& graph, const LinearLayer& layer, const Tensor& tensor, Role role)
    : layer_(layer), tensor_(tensor) {
  const Node& node = graph.nodes.at(static_cast<size_t>(layer.node));
  const std::string what =
      node.describe() + (role == Role::Input ? ": input '" + layer.input : ": output '" + layer.output) + "'";
  if (tensor.dtype() != DType::Float32) PTQ_FAIL(DataError, what, " is ", dtype_name(tensor.dtype()), ", not float32");
  if (layer.op_type == "Conv") {
    if (tensor.rank() < 3)
      PTQ_FAIL(DataError, what, " has shape ", shape_str(tensor.shape()), ", expected [N, C, spatial...]");
    channels_ = tensor.dim(1);
    spatial_ = tensor.numel() / std::max<int64_t>(1, tensor.dim(0) * channels_);
    tensor_positions_ = tensor.dim(0) * spatial_;
    const Tensor& w = *graph.weight(layer.weight);
    if (role == Role::Output) {
      if (channels_ != layer.outputs())
        PTQ_FAIL(DataError, what, " has ", channels_, " channels, expected ", layer.outputs());
      positions_ = tensor_positions_;
      return;
    }
    if (channels_ != w.dim(1) * layer.groups)
      PTQ_FAIL(DataError, what, " has ", channels_, " channels, the weight ", shape_str(w.shape()), " needs ",
               w.dim(1) * layer.groups);
    geometry_ = std::make_unique<Geometry>();
    geometry_->window = exec::resolve_window(exec::WindowAttrs::read(node), tensor.shape(),
                                             std::vector<int64_t>(w.shape().begin() + 2, w.shape().end()));
    positions_ = tensor.dim(0) * geometry_->window.out_size();
    return;
  }
  // Gemm / MatMul: rows of the last dim (Gemm transA: columns of a [K, M] input).
  const int64_t width = role == Role::Output ? layer.rows : layer.depth;
  const bool by_column = role == Role::Input && layer.trans_a;
  const int64_t last = tensor.rank() == 0 ? 1 : tensor.dim(by_column ? 0 : -1);
  if (last != width || (by_column && tensor.rank() != 2))
    PTQ_FAIL(DataError, what, " has shape ", shape_str(tensor.shape()), ", which does not fit a weight of ",
             layer.depth, " x ", layer.rows);
  channels_ = width;
  positions_ = tensor_positions_ = tensor.numel() / std::max<int64_t>(1, width);
  stride_ = by_column ? positions_ : 1;
}

ColumnView::~ColumnView() = default;

void ColumnView::patch(int64_t group, int64_t p, float* out) const {
  const float* x = tensor_.data<float>();
  if (!geometry_) {
    channels(group, p, out);
    return;
  }
  const exec::WindowGeometry& g = geometry_->window;
  const int64_t n = p / g.out_size(), at = p % g.out_size(), cg = channels_ / layer_.groups;
  exec::im2col(x + (n * channels_ + group * cg) * g.in_size(), cg, g, at, at + 1, 0.0f, out);
}

void ColumnView::channels(int64_t group, int64_t p, float* out) const {
  const float* x = tensor_.data<float>();
  if (layer_.op_type == "Conv") {
    const int64_t n = p / spatial_, at = p % spatial_, cg = channels_ / layer_.groups;
    const float* src = x + (n * channels_ + group * cg) * spatial_ + at;
    for (int64_t c = 0; c < cg; ++c) out[c] = src[c * spatial_];
    return;
  }
  const float* src = x + (stride_ == 1 ? p * channels_ : p);
  for (int64_t k = 0; k < channels_; ++k) out[k] = layer_.alpha * src[k * stride_];
}

void ColumnView::outputs(int64_t group, int64_t p, float* out) const {
  const float* y = tensor_.data<float>();
  if (layer_.op_type == "Conv") {
    const int64_t n = p / spatial_, at = p % spatial_;
    const float* src = y + (n * channels_ + group * layer_.rows) * spatial_ + at;
    for (int64_t o = 0; o < layer_.rows; ++o) out[o] = src[o * spatial_];
    return;
  }
  const float* src = y + p * channels_;
  for (int64_t o = 0; o < layer_.rows; ++o) out[o] = src[o];
}

}  // namespace ptq::transform
