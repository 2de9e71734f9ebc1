// SPDX-License-Identifier: Apache-2.0
// The channel-blocked layout between kernels (dnnl_conv.h: nChw16c or nChw8c, [N, ceil(C/B), H, W, B],
// padding zero, B = channel_block()). When the executor runs fused (nobody observes intermediates), a
// tensor made by a kernel that can write it blocked and read by at least one kernel that can read it
// blocked stays blocked between them: convolutions then chain without reordering to NCHW and back.
// Everything else sees NCHW: the executor converts a blocked value before any other reader, and never
// blocks a graph output, a fetched tensor or a tensor a subgraph reads. A blocked value lives in its slot
// as a float32 rank-5 tensor; the executor keeps its real channel count beside it.
// Kernels with a blocked form (make_layout_kernels, one row per op in layout.cpp): Conv heads (2-D,
// through oneDNN, with their fused post-ops); Add, Sub, Mul, Max, Min of two blocked tensors of one shape
// (elementwise over the padded buffer: f(0, 0) == 0 keeps the padding zero); Concat along channels when
// every input but the last fills whole blocks; 2-D MaxPool; Resize of H and W (not tf_crop_and_resize). A blocked kernel may decline a call
// (returns false), and the executor then runs the plain kernel on NCHW inputs; results are the same
// bits either way.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "ptq/exec/kernel.h"

namespace ptq::exec {

class PostOps;

struct LayoutIO {
  std::vector<int64_t> in_channels;  // per input: real channels when blocked, 0 when NCHW (or absent)
  bool want_blocked = false;         // the output may stay blocked (some reader takes it blocked)
  int64_t out_channels = 0;          // set by the kernel: real channels when it wrote the output blocked
};

using BlockedKernel = std::function<bool(KernelIO& io, LayoutIO& layout)>;

// The blocked form of `node` (a group head with its post-ops, or a lone node with none) and, when it
// has state to share (a convolution's packed weights), the plain kernel sharing it; plain is empty
// when the node keeps its kernel-table kernel, blocked when the op has no blocked form.
struct LayoutKernels {
  Kernel plain;
  BlockedKernel blocked;
};
LayoutKernels make_layout_kernels(const Node& node, const PostOps& post);

// Which inputs of `node` its blocked form reads blocked.
bool reads_blocked(const Node& node, size_t input);

}  // namespace ptq::exec
