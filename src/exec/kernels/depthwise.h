// SPDX-License-Identifier: Apache-2.0
// Direct depthwise convolution of one 2-D plane (used by Conv when each group has one input channel).
#pragma once

#include "post_ops.h"
#include "window.h"

namespace ptq::exec {

// y (out[1] x out[2]) = bias + taps w (k[1] x k[2]) over plane x (in[1] x in[2]), then post-ops of
// `channel`. Geometry g from resolve_window with in[0] == out[0] == k[0] == 1.
void depthwise_plane(const float* x, const float* w, float bias, float* y, const WindowGeometry& g, const PostOps& post,
                     int64_t channel);

}  // namespace ptq::exec
