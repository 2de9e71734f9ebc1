// SPDX-License-Identifier: Apache-2.0
// How many threads one job gets, from its size. Splitting a job costs a fork/join of libgomp's team
// (0.5 to 12 us for an empty region on the 2-core reference machine, depending on what else runs)
// and moves its data between the cores' caches, so a job of a few microseconds runs slower split than
// on one thread (MobileNetV1-0.25: its 3x3 depthwise layers of 8x8 and 4x4 take 2.5-3.5 us on one
// thread, 0.4-0.8 us more on two). Each job kind has a minimum amount of work that an extra thread
// must bring (its row of the table in thread_policy.cpp):
//   threads used = min(threads requested, 1 + work / min_work_per_extra_thread).
// Results never depend on this choice: kernels split into tasks by shape (parallel.h), and oneDNN's
// primitives give the same bits for any thread count (dnnl_conv.h).
#pragma once

#include <cstdint>

namespace ptq::exec {

enum class JobKind {
  Tasks,        // parallel_for's jobs and layout reorders; work in elementary operations (an element
                // written, a multiply-add)
  Convolution,  // a oneDNN convolution; work from convolution_work
};

struct ThreadRule {
  JobKind kind;
  int64_t min_work_per_extra_thread;
};

// The row of `kind`.
const ThreadRule& thread_rule(JobKind kind);

// Threads for a job of `work` (negative: unknown, all of them) when `threads` are available.
int pick_threads(int threads, JobKind kind, int64_t work);

// The work of a convolution writing `outputs` elements, each a sum of `taps` multiply-adds, reading
// `inputs` input and `weights` weight elements: the multiply-adds plus kConvElementCost per element
// moved (a 3x3 depthwise layer does 9 multiply-adds per output but costs about as much per element
// read and written as a 1x1 layer of 80 input channels).
int64_t convolution_work(int64_t outputs, int64_t taps, int64_t inputs, int64_t weights);

}  // namespace ptq::exec
