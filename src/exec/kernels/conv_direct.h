// SPDX-License-Identifier: Apache-2.0
// Direct convolution for 2-D windows with unit strides and dilations (3x3 and 5x5 "same" layers): no
// im2col. The input of one image and group is copied once into a zero-padded plane per channel; a task
// is one output row of every output channel, computed 4 channels x 24 columns at a time in AVX2
// registers (then 16, 8, and a masked partial vector), summing over input channels, then window rows,
// then window columns, in that fixed order (the thread count cannot change a result).
#pragma once

#include <cstdint>

#include "post_ops.h"
#include "window.h"

namespace ptq::exec {

// Whether conv_direct handles this geometry and is the faster path for it: 2-D, strides and dilations 1,
// a window of at most 7x7, at least 4 input channels per group, and a map wide enough for the channel
// counts (see kMaxChannelsPerColumn in conv_direct.cpp).
bool conv_direct_fits(const WindowGeometry& g, int64_t channels_per_group, int64_t outputs_per_group);

// y[n, m] for every image n < N and output channel m < M (groups of Cg input and Mg output channels);
// w is [M, Cg, kh, kw], b null or [M].
void conv_direct(int64_t N, int64_t C, int64_t M, int64_t group, const WindowGeometry& g, const float* x, const float* w,
                 const float* b, float* y, const PostOps& post, int threads);

}  // namespace ptq::exec
