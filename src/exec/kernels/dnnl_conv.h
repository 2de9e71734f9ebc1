// SPDX-License-Identifier: Apache-2.0
// 1-D and 2-D float32 convolution through oneDNN (Debian's libdnnl), in the channel-blocked layout its kernels
// want on this CPU: nChw16c (AVX-512) or nChw8c (AVX2), a tensor [N, ceil(C/B), H, W, B] whose channels
// beyond C are zero, B = channel_block().
// - Weights are reordered into the primitive's packed layout once per weight buffer (the executor's
//   weights live as long as it does) and shared by every thread.
// - One primitive per input shape, created on first use and cached; oneDNN's scratchpad is per call.
// - The primitive (and so every output bit) depends on the shape only: a plain NCHW input goes through
//   the same primitive between two reorders (exact copies), so a plain run, a blocked run and any
//   thread count give the same bits (tests: DnnlConv.*, Executor.Blocked*).
// - Post-ops run through PostOps over the finished output (not as oneDNN post-ops: a primitive with
//   post-ops may be another implementation, summing in another order, and a fused run must give the
//   bits of the node-by-node one). The exception is the one the executor already allows (fusion.h):
//   a lone Sigmoid or SiLU epilogue (YOLO's activation) runs as oneDNN's logistic / swish inside the
//   primitive, while the output is in cache, within a few ulp of the node-by-node run.
// Built only with PTQ_WITH_DNNL (the default when libdnnl-dev is found); otherwise the Eigen/direct
// kernels of conv.cpp run everything.
#pragma once

#include <cstdint>
#include <memory>

#include "post_ops.h"
#include "ptq/ir/tensor.h"
#include "window.h"

namespace ptq::exec {

// Lanes of the blocked layout: 16 where oneDNN has optimized kernels reading nChw16c (AVX-512), 8 where
// it has them only for nChw8c (AVX2; nChw16c would run its reference kernel, ~10x slower). Probed once
// per process; PTQ_CHANNEL_BLOCK=8|16 forces one (ctest Layout.EightLaneBlocks reruns the layout tests
// with 8 on any machine). Results are the same bits for any thread count with either; between the two,
// oneDNN's kernels may sum in another order.
int64_t channel_block();
constexpr int64_t kMaxChannelBlock = 16;  // stack arrays of one block's lanes

// The blocked shape of an NCHW shape, and back.
Shape blocked_shape(const Shape& nchw);
// Plain NCHW copy of a blocked tensor with `channels` real channels, and the reverse (padding zeroed).
Tensor unblock(const Tensor& blocked, int64_t channels, int threads);
Tensor block(const Tensor& plain, int threads);

// True when the library was built with oneDNN (PTQ_WITH_DNNL).
bool have_dnnl();

class DnnlConv {
 public:
  // nullptr when oneDNN is not built in.
  static std::shared_ptr<DnnlConv> create(const WindowAttrs& attrs, int64_t group, const PostOps& post);
  ~DnnlConv();
  // True when this call can run here: float32 input and weight of rank 4 (or 3: a 1-D convolution,
  // NCL, run as one of height 1, NCHW in and out), group dividing both.
  static bool fits(const Shape& x, DType x_type, const Tensor& w, int64_t group);
  // x: NCHW when x_channels == 0, else blocked with x_channels real channels. The output is blocked
  // when `blocked_out` (its real channels are w.dim(0)), NCHW otherwise. An undefined tensor when
  // oneDNN has only its reference kernel for this shape (the caller runs its own).
  Tensor run(const Tensor& x, int64_t x_channels, const Tensor& w, const Tensor* b, bool blocked_out, int threads);

 public:
  struct State;

 private:
  explicit DnnlConv(std::unique_ptr<State> state);
  Tensor run_dnnl(const Tensor& x, int64_t x_channels, const Tensor& w, const Tensor* b, bool blocked_out, int threads);
  std::unique_ptr<State> state_;
};

}  // namespace ptq::exec
