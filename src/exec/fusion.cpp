// SPDX-License-Identifier: Apache-2.0
// Fusion patterns, matched repeatedly after a head (Conv, ConvTranspose, Gemm, MatMul) while the current
// tensor `t` is no graph output and is read only by the pattern's nodes:
//   BatchNormalization(t) (inference; Conv/ConvTranspose heads)        -> Affine per channel
//   Add/Mul(t, c), Div(t, c) with c constant (one value, or one per channel for Conv heads)
//   Relu, LeakyRelu, HardSigmoid, HardSwish, Sigmoid, Clip with constant bounds
//   Max(t, c) / Min(t, c) with one constant value                       -> Clip on one side
//   Sigmoid(t) -> s; Mul(t, s)                                           -> Silu
//   Add(t, c) -> a; Clip(a, lo, hi) -> k; Mul(t, k)                      -> MulClipAdd (hard-swish parts)
//   QuantizeLinear(t) -> q; DequantizeLinear(q), per tensor, constant parameters -> FakeQuant
// The group's kernel is the head's *_fused factory with the collected post-ops.
#include "fusion.h"

#include <cmath>
#include <limits>

#include "kernels/kernels.h"
#include "kernels/post_ops.h"
#include "layout.h"

namespace ptq::exec {
namespace {

// The only node reading `t`, or -1 (no reader, several readers, or a graph output).
int sole_consumer(const Graph& g, const std::string& t) {
  if (g.is_graph_output(t)) return -1;
  std::vector<int> c = g.consumers(t);
  return c.size() == 1 ? c[0] : -1;
}

const Tensor* float_weight(const Graph& g, const std::string& name) {
  const Tensor* t = name.empty() ? nullptr : g.weight(name);
  return t && t->dtype() == DType::Float32 ? t : nullptr;
}

struct Chain {
  const Graph& g;
  int64_t channels = 0;  // output channels when per-channel constants are allowed
  int64_t rank = -1;     // output rank when known
  std::string cur;
  FusedGroup group;
  PostOps post;

  void absorb(int node, const std::string& out) {
    group.hidden.push_back(cur);
    group.nodes.push_back(static_cast<size_t>(node));
    cur = out;
  }
};

// Constant operand of Add/Mul/Div: one value, or one per channel (dim 1), never widening the output.
bool read_constant(const Chain& ch, const std::string& name, PostOp& op) {
  const Tensor* t = float_weight(ch.g, name);
  if (!t || t->numel() == 0) return false;
  if (ch.rank < 0 ? t->rank() > 0 : t->rank() > ch.rank) return false;
  if (t->numel() == 1) {
    op.c = t->data<float>()[0];
    return true;
  }
  if (ch.channels <= 0 || t->numel() != ch.channels) return false;
  for (int i = 0; i < t->rank(); ++i) {  // right-aligned to the output: only dim 1 may exceed 1
    const int64_t out_dim = ch.rank - t->rank() + i;
    if (t->dim(i) != 1 && out_dim != 1) return false;
  }
  op.per_channel = t->to_vector<float>();
  return true;
}

bool clip_bounds(const Graph& g, const Node& n, float& lo, float& hi) {
  lo = std::numeric_limits<float>::lowest();
  hi = std::numeric_limits<float>::max();
  if (n.opset < 11) {
    lo = n.attr_float("min", lo);
    hi = n.attr_float("max", hi);
    return true;
  }
  for (size_t k = 1; k <= 2; ++k) {
    if (!n.has_input(k)) continue;
    const Tensor* t = float_weight(g, n.input(k));
    if (!t || t->numel() != 1) return false;
    (k == 1 ? lo : hi) = t->data<float>()[0];
  }
  return true;
}

// The other input of a two-input node that reads `t` once.
const std::string* other_input(const Node& n, const std::string& t) {
  if (n.inputs.size() != 2 || n.inputs[0] == n.inputs[1]) return nullptr;
  if (n.inputs[0] == t) return &n.inputs[1];
  if (n.inputs[1] == t) return &n.inputs[0];
  return nullptr;
}

bool match_silu(Chain& ch) {
  if (ch.g.is_graph_output(ch.cur)) return false;
  std::vector<int> c = ch.g.consumers(ch.cur);
  if (c.size() != 2) return false;
  for (int k = 0; k < 2; ++k) {
    const Node& s = ch.g.nodes[static_cast<size_t>(c[static_cast<size_t>(k)])];
    const Node& m = ch.g.nodes[static_cast<size_t>(c[static_cast<size_t>(1 - k)])];
    if (s.op_type != "Sigmoid" || !s.domain.empty() || s.inputs.size() != 1 || s.outputs.size() != 1) continue;
    if (m.op_type != "Mul" || !m.domain.empty()) continue;
    const std::string* o = other_input(m, ch.cur);
    if (!o || *o != s.outputs[0] || sole_consumer(ch.g, s.outputs[0]) != c[static_cast<size_t>(1 - k)]) continue;
    PostOp op;
    op.kind = PostOp::Kind::Silu;
    ch.post.push(op);
    ch.group.hidden.push_back(s.outputs[0]);
    ch.group.nodes.push_back(static_cast<size_t>(c[static_cast<size_t>(k)]));
    ch.absorb(c[static_cast<size_t>(1 - k)], m.outputs[0]);
    return true;
  }
  return false;
}

bool match_mul_clip_add(Chain& ch) {
  if (ch.g.is_graph_output(ch.cur)) return false;
  std::vector<int> c = ch.g.consumers(ch.cur);
  if (c.size() != 2) return false;
  for (int k = 0; k < 2; ++k) {
    const int ai = c[static_cast<size_t>(k)], mi = c[static_cast<size_t>(1 - k)];
    const Node& a = ch.g.nodes[static_cast<size_t>(ai)];
    const Node& m = ch.g.nodes[static_cast<size_t>(mi)];
    if (a.op_type != "Add" || m.op_type != "Mul" || !a.domain.empty() || !m.domain.empty()) continue;
    const std::string* cst = other_input(a, ch.cur);
    const Tensor* cv = cst ? float_weight(ch.g, *cst) : nullptr;
    const int ki = sole_consumer(ch.g, a.outputs[0]);
    if (!cv || cv->numel() != 1 || cv->rank() > 1 || ki < 0) continue;
    const Node& clip = ch.g.nodes[static_cast<size_t>(ki)];
    PostOp op;
    op.kind = PostOp::Kind::MulClipAdd;
    op.c = cv->data<float>()[0];
    if (clip.op_type != "Clip" || !clip.domain.empty() || clip.input(0) != a.outputs[0] || !clip_bounds(ch.g, clip, op.lo, op.hi)) continue;
    const std::string* mo = other_input(m, ch.cur);
    if (!mo || *mo != clip.outputs[0] || sole_consumer(ch.g, clip.outputs[0]) != mi) continue;
    ch.post.push(op);
    ch.group.hidden.push_back(a.outputs[0]);
    ch.group.hidden.push_back(clip.outputs[0]);
    ch.group.nodes.push_back(static_cast<size_t>(ai));
    ch.group.nodes.push_back(static_cast<size_t>(ki));
    ch.absorb(mi, m.outputs[0]);
    return true;
  }
  return false;
}

// BatchNormalization in inference form: per-channel a, b exactly as its kernel computes them.
bool batch_norm_affine(const Chain& ch, const Node& n, PostOp& op) {
  if (ch.channels <= 0 || n.input(0) != ch.cur || n.inputs.size() != 5) return false;
  if (n.opset >= 14 && n.attr_int("training_mode", 0) != 0) return false;
  if (n.opset < 9 && n.attr_int("spatial", 1) == 0) return false;
  for (size_t k = 1; k < n.outputs.size(); ++k)
    if (!n.outputs[k].empty()) return false;
  const Tensor* p[5] = {nullptr};
  for (size_t k = 1; k < 5; ++k) {
    p[k] = float_weight(ch.g, n.input(k));
    if (!p[k] || p[k]->numel() != ch.channels) return false;
  }
  const float eps = n.attr_float("epsilon", 1e-5f);
  op.kind = PostOp::Kind::Affine;
  for (int64_t c = 0; c < ch.channels; ++c) {
    const float a = p[1]->data<float>()[c] * (1.0f / std::sqrt(p[4]->data<float>()[c] + eps));
    op.per_channel.push_back(a);
    op.per_channel_b.push_back(p[2]->data<float>()[c] - p[3]->data<float>()[c] * a);
  }
  return true;
}

// Max(t, c) / Min(t, c) with one constant value c, t first (Max computes t < c ? c : t, as Clip's
// max(t, lo) does; with c first a NaN or a signed zero would come out differently): a one-sided Clip.
bool max_min_bound(const Chain& ch, const Node& n, PostOp& op) {
  if (n.inputs.size() != 2 || n.input(0) != ch.cur || n.input(1) == ch.cur) return false;
  const Tensor* c = float_weight(ch.g, n.input(1));
  if (!c || c->numel() != 1 || (ch.rank >= 0 && c->rank() > ch.rank)) return false;
  const float inf = std::numeric_limits<float>::infinity();
  op.lo = n.op_type == "Max" ? c->data<float>()[0] : -inf;
  op.hi = n.op_type == "Max" ? inf : c->data<float>()[0];
  return true;
}

bool match_single(Chain& ch) {
  const int ni = sole_consumer(ch.g, ch.cur);
  if (ni < 0) return false;
  const Node& n = ch.g.nodes[static_cast<size_t>(ni)];
  if (!n.domain.empty() || n.outputs.empty() || n.outputs[0].empty()) return false;
  using K = PostOp::Kind;
  PostOp op;
  const std::string& t = n.op_type;
  const bool unary = n.input(0) == ch.cur && n.inputs.size() == 1;
  if (t == "Relu" && unary) op.kind = K::Relu;
  else if (t == "Sigmoid" && unary) op.kind = K::Sigmoid;
  else if (t == "HardSwish" && unary) op.kind = K::HardSwish;
  else if (t == "LeakyRelu" && unary) op.kind = K::LeakyRelu, op.c = n.attr_float("alpha", 0.01f);
  else if (t == "HardSigmoid" && unary) op.kind = K::HardSigmoid, op.c = n.attr_float("alpha", 0.2f), op.beta = n.attr_float("beta", 0.5f);
  else if (t == "Clip" && n.input(0) == ch.cur && clip_bounds(ch.g, n, op.lo, op.hi)) op.kind = K::Clip;
  else if ((t == "Add" || t == "Mul") && other_input(n, ch.cur) && read_constant(ch, *other_input(n, ch.cur), op)) op.kind = t == "Add" ? K::Add : K::Mul;
  else if (t == "Div" && n.inputs.size() == 2 && n.input(0) == ch.cur && n.input(1) != ch.cur && read_constant(ch, n.input(1), op)) op.kind = K::Div;
  else if (t == "BatchNormalization" && batch_norm_affine(ch, n, op)) op.kind = K::Affine;
  else if ((t == "Max" || t == "Min") && max_min_bound(ch, n, op)) op.kind = K::Clip;
  else return false;
  ch.post.push(op);
  ch.absorb(ni, n.outputs[0]);
  return true;
}

// Per-tensor constant scale / zero point of a QuantizeLinear or DequantizeLinear (ai.onnx or
// com.microsoft); `type` is the quantized type (the zero point's, else output_dtype, else uint8).
bool qdq_params(const Graph& g, const Node& n, float& scale, int32_t& zp, DType& type) {
  if ((!n.domain.empty() && n.domain != "com.microsoft") || n.attr_int("block_size", 0) != 0) return false;
  if (n.inputs.size() < 2 || n.inputs.size() > 3 || n.outputs.size() != 1) return false;
  const Tensor* s = float_weight(g, n.input(1));
  if (!s || s->numel() != 1) return false;
  scale = s->data<float>()[0];
  zp = 0;
  type = n.op_type == "QuantizeLinear" && n.attr_int("output_dtype", 0) != 0 ? dtype_from_onnx(static_cast<int>(n.attr_int("output_dtype", 0))) : DType::UInt8;
  if (!n.has_input(2)) return true;
  const Tensor* z = g.weight(n.input(2));
  if (!z || z->numel() != 1) return false;
  type = z->dtype();
  switch (type) {
    case DType::UInt8: case DType::UInt4: zp = z->data<uint8_t>()[0]; return true;
    case DType::Int8: case DType::Int4: zp = z->data<int8_t>()[0]; return true;
    case DType::UInt16: zp = z->data<uint16_t>()[0]; return true;
    case DType::Int16: zp = z->data<int16_t>()[0]; return true;
    default: return false;
  }
}

bool match_fake_quant(Chain& ch) {
  const int qi = sole_consumer(ch.g, ch.cur);
  if (qi < 0) return false;
  const Node& q = ch.g.nodes[static_cast<size_t>(qi)];
  if (q.op_type != "QuantizeLinear" || q.input(0) != ch.cur) return false;
  const int di = sole_consumer(ch.g, q.outputs[0]);
  if (di < 0) return false;
  const Node& d = ch.g.nodes[static_cast<size_t>(di)];
  if (d.op_type != "DequantizeLinear" || d.input(0) != q.outputs[0]) return false;
  PostOp op;
  op.kind = PostOp::Kind::FakeQuant;
  DType qt, dt;
  if (!qdq_params(ch.g, q, op.c, op.zp, qt) || !qdq_params(ch.g, d, op.dq_scale, op.dq_zp, dt)) return false;
  if (d.has_input(2) && dt != qt) return false;
  int64_t qmin = 0, qmax = 0;
  if (qt == DType::Int32 || qt == DType::UInt32 || !dtype_int_range(qt, qmin, qmax)) return false;
  op.lo = static_cast<float>(qmin - op.zp);
  op.hi = static_cast<float>(qmax - op.zp);
  ch.post.push(op);
  ch.group.hidden.push_back(q.outputs[0]);
  ch.group.nodes.push_back(static_cast<size_t>(qi));
  ch.absorb(di, d.outputs[0]);
  return true;
}

Kernel fused_kernel(const Node& head, const PostOps& post) {
  if (head.op_type == "Conv") return make_conv_fused(head, post);
  if (head.op_type == "ConvTranspose") return make_conv_transpose_fused(head, post);
  if (head.op_type == "Gemm") return make_gemm_fused(head, post);
  return make_matmul_fused(head, post);
}

// Channel count (for per-channel constants) and output rank of a head, when the weights tell.
void head_shape(const Graph& g, const Node& n, int64_t& channels, int64_t& rank) {
  channels = 0;
  rank = -1;
  const Tensor* w = n.inputs.size() > 1 ? g.weight(n.input(1)) : nullptr;
  if (n.op_type == "Conv" || n.op_type == "ConvTranspose") {
    if (!w || w->rank() < 3) return;
    rank = w->rank();
    channels = n.op_type == "Conv" ? w->dim(0) : w->dim(1) * n.attr_int("group", 1);
  } else if (n.op_type == "Gemm") {
    rank = 2;
  } else if (const ValueInfo* vi = g.info(n.outputs[0]); vi && vi->has_shape) {
    rank = static_cast<int64_t>(vi->dims.size());
  }
}

}  // namespace

std::vector<FusedGroup> plan_fusion(const Graph& graph) {
  std::vector<FusedGroup> groups;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& n = graph.nodes[i];
    const std::string& t = n.op_type;
    if (!n.domain.empty() || (t != "Conv" && t != "ConvTranspose" && t != "Gemm" && t != "MatMul")) continue;
    if (n.outputs.size() != 1 || n.outputs[0].empty()) continue;
    Chain ch{graph, 0, -1, n.outputs[0], {}, {}};
    head_shape(graph, n, ch.channels, ch.rank);
    ch.group.head = i;
    ch.group.nodes.push_back(i);
    while (match_silu(ch) || match_mul_clip_add(ch) || match_fake_quant(ch) || match_single(ch)) {
    }
    if (ch.group.nodes.size() == 1) continue;
    ch.group.output = ch.cur;
    LayoutKernels lk = make_layout_kernels(n, ch.post);
    ch.group.kernel = lk.plain ? std::move(lk.plain) : fused_kernel(n, ch.post);
    ch.group.blocked = std::move(lk.blocked);
    groups.push_back(std::move(ch.group));
  }
  return groups;
}

}  // namespace ptq::exec
