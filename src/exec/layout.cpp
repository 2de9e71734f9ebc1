// SPDX-License-Identifier: Apache-2.0
// Kernels with a blocked form (layout.h): one row per op.
#include "layout.h"

#include <cstring>

#include "kernels/dnnl_conv.h"
#include "kernels/kernels.h"
#include "kernels/parallel.h"
#include "kernels/post_ops.h"

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

struct LayoutRow {
  const char* op_type;
  LayoutKernels (*make)(const Node& node, const PostOps& post);
  bool (*reads)(size_t input);
};

LayoutKernels plain_only(const Node& node) {
  const KernelEntry* e = find_kernel(node.domain, node.op_type);
  return {e ? e->make(node) : Kernel(), BlockedKernel()};
}

const LayoutRow kRows[] = {
    {"Conv", make_conv_layout, [](size_t i) { return i == 0; }},
    {"Add",
     [](const Node& node, const PostOps& post) {
       LayoutKernels k = plain_only(node);
       if (post.empty()) k.blocked = blocked_binary([](float x, float y) { return x + y; });
       return k;
     },
     [](size_t i) { return i < 2; }},
    {"Mul",
     [](const Node& node, const PostOps& post) {
       LayoutKernels k = plain_only(node);
       if (post.empty()) k.blocked = blocked_binary([](float x, float y) { return x * y; });
       return k;
     },
     [](size_t i) { return i < 2; }},
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
