// SPDX-License-Identifier: Apache-2.0
// Conv (opsets 1, 11), float32, 1-D to 3-D, any group, strides, dilations, pads, auto_pad, optional
// bias, optional fused post-ops (executor fusion, post_ops.h):
//   Y[n, m, o] = B[m] + sum_{c in group(m), t in window} W[m, c, t] * X[n, c, o * s - pad + t * d]
// oneDNN (dnnl_conv.h) runs every 1-D and 2-D convolution it has an optimized kernel for; otherwise
// four paths:
//   - depthwise-like (one input channel per group, 1-D/2-D; with group 1 only up to a 7x7 window):
//     direct per plane (depthwise.cpp);
//   - 2-D, unit strides and dilations, windows up to 7x7 (3x3 "same" layers) on maps wide for their
//     channel counts: direct, register-blocked, no im2col (conv_direct.cpp);
//   - 1x1, stride 1, no pads: the input plane already is the GEMM operand (no im2col);
//   - otherwise: im2col of one column tile (plan_tiles keeps it near 2^17 floats; a per-thread buffer
//     reused across calls) then one GEMM per tile.
// Tasks are (image, group, row tile, column tile) from the shape only: results do not depend on the
// thread count.
#include <algorithm>

#include "conv_direct.h"
#include "depthwise.h"
#include "dnnl_conv.h"
#include "kernels.h"
#include "../layout.h"
#include "parallel.h"
#include "post_ops.h"
#include "sgemm.h"
#include "window.h"

namespace ptq::exec {
namespace {

// Single-input-channel convolutions (group 1) with a window above this go through im2col + GEMM.
constexpr int64_t kDirectMaxWindow = 49;

struct ConvShape {
  int64_t N = 0, C = 0, M = 0, group = 1, Cg = 0, Mg = 0;
  WindowGeometry g;
};

ConvShape conv_shape(const WindowAttrs& attrs, int64_t group, const Tensor& x, const Tensor& w) {
  if (x.rank() < 3) PTQ_FAIL(ModelError, "input X must have rank >= 3, got ", shape_str(x.shape()));
  if (w.rank() != x.rank()) PTQ_FAIL(ModelError, "weight W ", shape_str(w.shape()), " does not match input X ", shape_str(x.shape()));
  ConvShape s;
  s.N = x.dim(0);
  s.C = x.dim(1);
  s.M = w.dim(0);
  s.group = group;
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  if (!attrs.kernel_shape.empty() && attrs.kernel_shape != kernel)
    PTQ_FAIL(ModelError, "kernel_shape ", shape_str(attrs.kernel_shape), " differs from the weight's ", shape_str(kernel));
  if (group <= 0 || s.C % group != 0 || s.M % group != 0 || w.dim(1) * group != s.C)
    PTQ_FAIL(ModelError, "weight W ", shape_str(w.shape()), " and input X ", shape_str(x.shape()), " do not match group ", group);
  s.Cg = s.C / group;
  s.Mg = s.M / group;
  s.g = resolve_window(attrs, x.shape(), kernel);
  return s;
}

void conv_depthwise(const ConvShape& s, const float* x, const float* w, const float* b, float* y, const PostOps& post,
                    int threads) {
  const int64_t in_size = s.g.in_size(), out_size = s.g.out_size(), kk = s.g.k_size();
  const int64_t work = s.N * s.M * out_size * s.g.k_size();
  parallel_for(threads, s.N * s.M, [&](int64_t t) {
    const int64_t n = t / s.M, m = t % s.M, c = m / s.Mg;  // Cg == 1: group m / Mg reads channel c
    depthwise_plane(x + (n * s.C + c) * in_size, w + m * kk, b ? b[m] : 0.0f, y + t * out_size, s.g, post, m);
  }, work);
}

void conv_gemm(const ConvShape& s, const float* x, const float* w, const float* b, float* y, const PostOps& post,
               int threads) {
  const int64_t K = s.Cg * s.g.k_size(), P = s.g.out_size(), in_size = s.g.in_size();
  const bool direct = s.g.unit_window();
  const TilePlan tp = plan_tiles(s.Mg, P, K, s.N * s.group);
  const int64_t per_image = s.group * tp.m_tiles * tp.n_tiles;
  parallel_for(threads, s.N * per_image, [&](int64_t t) {
    const int64_t n = t / per_image, grp = (t / (tp.m_tiles * tp.n_tiles)) % s.group;
    const int64_t mt = (t / tp.n_tiles) % tp.m_tiles, nt = t % tp.n_tiles;
    const int64_t m0 = mt * tp.m_tile, mc = std::min(tp.m_tile, s.Mg - m0);
    const int64_t p0 = nt * tp.n_tile, pc = std::min(tp.n_tile, P - p0);
    const float* xg = x + (n * s.C + grp * s.Cg) * in_size;
    float* yg = y + (n * s.M + grp * s.Mg) * P;
    Epilogue epi;
    epi.row_bias = b ? b + grp * s.Mg : nullptr;
    epi.post = &post;
    epi.channel0 = grp * s.Mg;
    const MatView a{w + grp * s.Mg * K, K, false};
    if (direct) {
      sgemm_tile(m0, mc, p0, pc, K, 1.0f, a, MatView{xg, P, false}, yg, P, false, epi);
    } else {
      float* col = thread_scratch<float>(static_cast<size_t>(K * pc));
      im2col(xg, s.Cg, s.g, p0, p0 + pc, 0.0f, col);
      sgemm_tile(m0, mc, 0, pc, K, 1.0f, a, MatView{col, pc, false}, yg + p0, P, false, epi);
    }
  }, s.N * s.M * K * P);
}


Kernel make_conv_with(const Node& node, const PostOps& post, std::shared_ptr<DnnlConv> dnnl) {
  expect_inputs(node, 2, 3);
  WindowAttrs attrs = WindowAttrs::read(node);
  int64_t group = node.attr_int("group", 1);
  return [attrs, group, post, dnnl](KernelIO& io) {
    const Tensor& x = io.in(0);
    const Tensor& w = io.in(1);
    const Tensor* b = io.has(2) ? io.inputs[2] : nullptr;
    for (const Tensor* t : {&x, &w, b})
      if (t && t->dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(t->dtype()), " is not supported (float32 is)");
    ConvShape s = conv_shape(attrs, group, x, w);
    if (b && b->numel() != s.M) PTQ_FAIL(ModelError, "bias B ", shape_str(b->shape()), " does not have ", s.M, " values");
    if (dnnl && DnnlConv::fits(x.shape(), x.dtype(), w, group)) {
      io.outputs[0] = dnnl->run(x, 0, w, b, false, io.threads);
      if (io.outputs[0].defined()) return;
    }
    Shape out_shape{s.N, s.M};
    for (int64_t d : s.g.out_shape()) out_shape.push_back(d);
    io.outputs[0] = Tensor(DType::Float32, out_shape);
    float* y = io.outputs[0].data<float>();
    const float* bias = b ? b->data<float>() : nullptr;
    // The direct kernel suits small windows; one input channel with a long window (an STFT as a
    // 512-tap 1-D Conv) is a GEMM of M x window x positions, ~20x faster through im2col.
    const bool small_window = s.group > 1 || s.g.k_size() <= kDirectMaxWindow;
    if (s.Cg == 1 && s.g.in[0] == 1 && s.g.k[0] == 1 && small_window)
      conv_depthwise(s, x.data<float>(), w.data<float>(), bias, y, post, io.threads);
    else if (conv_direct_fits(s.g, s.Cg, s.Mg))
      conv_direct(s.N, s.C, s.M, s.group, s.g, x.data<float>(), w.data<float>(), bias, y, post, io.threads);
    else
      conv_gemm(s, x.data<float>(), w.data<float>(), bias, y, post, io.threads);
  };
}

}  // namespace

Kernel make_conv_fused(const Node& node, const PostOps& post) {
  return make_conv_with(node, post, DnnlConv::create(WindowAttrs::read(node), node.attr_int("group", 1), post));
}

Kernel make_conv(const Node& node) { return make_conv_fused(node, PostOps{}); }

LayoutKernels make_conv_layout(const Node& node, const PostOps& post) {
  const int64_t group = node.attr_int("group", 1);
  std::shared_ptr<DnnlConv> dnnl = DnnlConv::create(WindowAttrs::read(node), group, post);
  LayoutKernels k;
  k.plain = make_conv_with(node, post, dnnl);
  if (!dnnl) return k;
  k.blocked = [dnnl, group](KernelIO& io, LayoutIO& layout) {
    if (!io.has(1) || io.inputs.size() < 2 || layout.in_channels[1] || (io.has(2) && layout.in_channels[2])) return false;
    const Tensor& x = io.in(0);
    const Tensor& w = io.in(1);
    const Tensor* b = io.has(2) ? io.inputs[2] : nullptr;
    const int64_t c = layout.in_channels[0];
    const bool blocked_in = c > 0 && x.rank() == 5;
    if (c > 0 && !blocked_in) return false;
    // The plain kernel validates every other case (and reports errors with their context).
    const Shape logical = blocked_in ? Shape{x.dim(0), c, x.dim(2), x.dim(3)} : x.shape();
    if (logical.size() != 4 || !DnnlConv::fits(logical, x.dtype(), w, group)) return false;
    if (b && (b->dtype() != DType::Float32 || b->numel() != w.dim(0))) return false;
    io.outputs[0] = dnnl->run(x, c, w, b, layout.want_blocked, io.threads);
    if (!io.outputs[0].defined()) return false;
    layout.out_channels = layout.want_blocked ? w.dim(0) : 0;
    return true;
  };
  return k;
}

}  // namespace ptq::exec
