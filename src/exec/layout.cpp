// SPDX-License-Identifier: Apache-2.0
// Kernels with a blocked form (layout.h): one row per op.
#include "layout.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/common.h"
#include "kernels/dnnl_conv.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/post_ops.h"
#include "kernels/window.h"

namespace ptq::exec {
namespace {

// Add / Mul of two blocked tensors of one shape and channel count, over the whole padded buffer.
template <class Op>
BlockedKernel blocked_binary(Op op) {
  return [op](KernelIO& io, LayoutIO& layout) {
    if (io.inputs.size() != 2 || !io.has(0) || !io.has(1)) return false;
    const Tensor& a = io.in(0);
    const Tensor& b = io.in(1);
    const int64_t c = layout.in_channels[0];
    if (c == 0 || layout.in_channels[1] != c || a.rank() != 5 || a.shape() != b.shape() ||
        a.dtype() != DType::Float32 || b.dtype() != DType::Float32)
      return false;
    Tensor y(DType::Float32, a.shape());
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* py = y.data<float>();
    const int64_t n = a.numel(), chunk = 1 << 14;
    parallel_for(io.threads, ceil_div(n, chunk), [&](int64_t t) {
      for (int64_t i = t * chunk, e = std::min(n, i + chunk); i < e; ++i) py[i] = op(pa[i], pb[i]);
    }, n);
    io.outputs[0] = layout.want_blocked ? std::move(y) : unblock(y, c, io.threads);
    layout.out_channels = layout.want_blocked ? c : 0;
    return true;
  };
}

// Concat along channels with blocked inputs (layout.h). When the output may stay blocked and every
// input but the last fills whole blocks, the blocks follow each other per image. Otherwise the output
// is written NCHW in one pass, each blocked input unblocked straight into its channel range (a
// detection head's 4 + 1 + 80 channels) and plain inputs copied.
bool blocked_concat(int64_t axis, KernelIO& io, LayoutIO& layout) {
  if (io.inputs.empty() || (axis != 1 && axis != -3)) return false;
  int64_t channels = 0, blocks = 0;
  bool whole_blocks = true;
  const Tensor* first = io.has(0) ? io.inputs[0] : nullptr;
  if (!first || first->rank() != (layout.in_channels[0] ? 5 : 4)) return false;
  const int64_t N = first->dim(0), H = first->dim(2), W = first->dim(3), P = H * W, B = channel_block();
  for (size_t k = 0; k < io.inputs.size(); ++k) {
    if (!io.has(k) || io.in(k).dtype() != DType::Float32) return false;
    const Tensor& t = io.in(k);
    const int64_t c = layout.in_channels[k];
    if (t.rank() != (c ? 5 : 4) || t.dim(0) != N || t.dim(2) != H || t.dim(3) != W) return false;
    whole_blocks = whole_blocks && c > 0 && (k + 1 == io.inputs.size() || c % B == 0);
    channels += c ? c : t.dim(1);
    blocks += c ? t.dim(1) : 0;
  }
  if (blocks == 0) return false;  // nothing blocked: the kernel table's Concat
  if (layout.want_blocked && whole_blocks) {
    Tensor y(DType::Float32, {N, blocks, H, W, B});
    const int64_t per_block = P * B;
    float* out = y.data<float>();
    thread_local CopyPieces copies;  // keeps its capacity between calls
    copies.clear();
    for (int64_t n = 0; n < N; ++n)
      for (size_t k = 0; k < io.inputs.size(); ++k) {
        const int64_t count = io.in(k).dim(1) * per_block;
        copies.add(io.in(k).data<float>() + n * count, out, count * static_cast<int64_t>(sizeof(float)), sizeof(float));
        out += count;
      }
    copies.run(io.threads);
    io.outputs[0] = std::move(y);
    layout.out_channels = channels;
    return true;
  }
  Tensor y(DType::Float32, {N, channels, H, W});
  float* out = y.data<float>();
  int64_t offset = 0;
  for (size_t k = 0; k < io.inputs.size(); ++k) {
    const Tensor& t = io.in(k);
    const float* in = t.data<float>();
    const int64_t c = layout.in_channels[k], tb = c ? t.dim(1) : 0;
    if (c == 0) {
      thread_local CopyPieces copies;  // keeps its capacity between calls
      copies.clear();
      for (int64_t n = 0; n < N; ++n)
        copies.add(in + n * t.dim(1) * P, out + (n * channels + offset) * P, t.dim(1) * P * static_cast<int64_t>(sizeof(float)),
                   sizeof(float));
      copies.run(io.threads);
    } else {
      parallel_for(io.threads, N * tb, [&](int64_t task) {
        const int64_t n = task / tb, b = task % tb, lanes = std::min(B, c - b * B);
        const float* src = in + task * P * B;
        float* dst = out + (n * channels + offset + b * B) * P;
        for (int64_t p = 0; p < P; ++p)
          for (int64_t l = 0; l < lanes; ++l) dst[l * P + p] = src[p * B + l];
      }, N * tb * P * B);
    }
    offset += c ? c : t.dim(1);
  }
  io.outputs[0] = std::move(y);
  layout.out_channels = 0;
  return true;
}

// Maximum over the taps t in [lo, hi) of a window starting at `start` along one axis (tap t at
// base[(start + t) * step]), the B lanes of a block at once; the first tap taken as it is, no tap gives
// lowest() (as the plain kernel).
template <int64_t B>
void lane_max(const float* base, int64_t start, int64_t lo, int64_t hi, int64_t step, float* out) {
  if (lo >= hi) {
    std::fill(out, out + B, std::numeric_limits<float>::lowest());
    return;
  }
  const float* first = base + (start + lo) * step;
  std::copy(first, first + B, out);
  for (int64_t t = lo + 1; t < hi; ++t) {
    const float* v = base + (start + t) * step;
    for (int64_t l = 0; l < B; ++l) out[l] = v[l] > out[l] ? v[l] : out[l];
  }
}

// 2-D MaxPool (no Indices output) over a block of B channels at once, separable: the maximum along each
// row's windows, then along the columns of those (exact: the order of comparisons does not change a maximum).
template <int64_t B>
bool blocked_max_pool_lanes(const WindowAttrs& attrs, KernelIO& io, LayoutIO& layout) {
  const int64_t c = layout.in_channels[0];
  if (c == 0 || io.outputs.size() != 1 || attrs.kernel_shape.size() != 2) return false;
  if (io.in(0).rank() != 5 || io.in(0).dim(4) != B) return false;
  const Tensor& x = io.in(0);
  const WindowGeometry g = resolve_window(attrs, Shape{x.dim(0), c, x.dim(2), x.dim(3)}, attrs.kernel_shape);
  if (g.d[1] != 1 || g.d[2] != 1) return false;
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], planes = x.dim(0) * x.dim(1);
  Tensor y(DType::Float32, {x.dim(0), x.dim(1), OH, OW, B});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  parallel_for(io.threads, planes, [&](int64_t t) {
    const float* in = xp + t * H * W * B;
    float* out = yp + t * OH * OW * B;
    thread_local std::vector<float> rows;  // [H][OW][B]: maxima along each row's windows
    rows.resize(static_cast<size_t>(H * OW * B));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ow * g.s[2] - g.pb[2];
        lane_max<B>(in + h * W * B, w0, std::max<int64_t>(0, -w0), std::min(g.k[2], W - w0), B,
                    rows.data() + (h * OW + ow) * B);
      }
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = oh * g.s[1] - g.pb[1], lo = std::max<int64_t>(0, -h0), hi = std::min(g.k[1], H - h0);
      for (int64_t ow = 0; ow < OW; ++ow)
        lane_max<B>(rows.data() + ow * B, h0, lo, hi, OW * B, out + (oh * OW + ow) * B);
    }
  }, y.numel() * (g.k[1] + g.k[2]));
  io.outputs[0] = layout.want_blocked ? std::move(y) : unblock(y, c, io.threads);
  layout.out_channels = layout.want_blocked ? c : 0;
  return true;
}

bool blocked_max_pool(const WindowAttrs& attrs, KernelIO& io, LayoutIO& layout) {
  if (channel_block() == 8) return blocked_max_pool_lanes<8>(attrs, io, layout);
  return blocked_max_pool_lanes<16>(attrs, io, layout);
}

template <class Op>
LayoutKernels binary_row(const Node& node, const PostOps& post, Op op) {
  LayoutKernels k;  // plain empty: the node keeps the kernel table's
  if (post.empty()) k.blocked = blocked_binary(op);
  return k;
}

struct LayoutRow {
  const char* op_type;
  LayoutKernels (*make)(const Node& node, const PostOps& post);
  bool (*reads)(size_t input);
};

bool first_two(size_t i) { return i < 2; }

// Element-wise ops of two same-shape blocked tensors keep the padding zero: f(0, 0) == 0.
const LayoutRow kRows[] = {
    {"Conv", make_conv_layout, [](size_t i) { return i == 0; }},
    {"Add", [](const Node& n, const PostOps& p) { return binary_row(n, p, [](float x, float y) { return x + y; }); }, first_two},
    {"Sub", [](const Node& n, const PostOps& p) { return binary_row(n, p, [](float x, float y) { return x - y; }); }, first_two},
    {"Mul", [](const Node& n, const PostOps& p) { return binary_row(n, p, [](float x, float y) { return x * y; }); }, first_two},
    {"Max", [](const Node& n, const PostOps& p) { return binary_row(n, p, [](float x, float y) { return std::max(x, y); }); }, first_two},
    {"Min", [](const Node& n, const PostOps& p) { return binary_row(n, p, [](float x, float y) { return std::min(x, y); }); }, first_two},
    {"Concat",
     [](const Node& n, const PostOps&) {
       LayoutKernels k;
       const int64_t axis = n.attr_int("axis", 1);
       k.blocked = [axis](KernelIO& io, LayoutIO& layout) { return blocked_concat(axis, io, layout); };
       return k;
     },
     [](size_t) { return true; }},
    {"MaxPool",
     [](const Node& n, const PostOps&) {
       LayoutKernels k;
       const WindowAttrs attrs = WindowAttrs::read(n);
       k.blocked = [attrs](KernelIO& io, LayoutIO& layout) { return blocked_max_pool(attrs, io, layout); };
       return k;
     },
     [](size_t i) { return i == 0; }},
    {"Resize", make_resize_layout, [](size_t i) { return i == 0; }},
};

const LayoutRow* find_row(const Node& node) {
  if (!node.domain.empty() || !have_dnnl()) return nullptr;
  for (const LayoutRow& r : kRows)
    if (node.op_type == r.op_type) return &r;
  return nullptr;
}

}  // namespace

LayoutKernels make_layout_kernels(const Node& node, const PostOps& post) {
  const LayoutRow* r = find_row(node);
  return r ? r->make(node, post) : LayoutKernels{};
}

bool reads_blocked(const Node& node, size_t input) {
  const LayoutRow* r = find_row(node);
  return r && r->reads(input);
}

}  // namespace ptq::exec
