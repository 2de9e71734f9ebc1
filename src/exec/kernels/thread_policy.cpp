// SPDX-License-Identifier: Apache-2.0
// The thread-count policy (thread_policy.h) and its measured constants.
#include "thread_policy.h"

#include <algorithm>

#include "ptq/util/error.h"

namespace ptq::exec {
namespace {

// Measured on the reference machine (2 cores, AVX-512), 2 threads against 1, min of 4 rounds of 400
// runs per setting, per node (ptq_bench --profile) and per model (tools/bench/speed.py):
// - Tasks: below 2^16 a wake-up and a join cost more than they save (commit 4927943).
// - Convolution: MobileNetV1-0.25-128 took 216 us per run with every convolution split, 212 us with
//   2^19, 219 us with 2^20 (its 1x1 layers of 0.5M multiply-adds gain 10 % split) and 248 us with 2^21;
//   MobileNetV2, YOLOX-nano, UltraFace-slim and openWakeWord's embedding were within noise of
//   splitting everything at 2^19 and 1-5 % slower at 2^20.
const ThreadRule kThreadRules[] = {
    {JobKind::Tasks,       int64_t{1} << 16},
    {JobKind::Convolution, int64_t{1} << 19},
};

// Per element read or written, in multiply-adds: on one thread a 3x3 depthwise layer of 32 channels at
// 32x32 (0.3M multiply-adds, 65K elements in and out) took 6.8 us, about as long as a 1x1 layer of 16
// to 32 channels at 32x32 (0.5M multiply-adds, 49K elements; 7.5 us).
constexpr int64_t kConvElementCost = 8;

}  // namespace

const ThreadRule& thread_rule(JobKind kind) {
  for (const ThreadRule& r : kThreadRules)
    if (r.kind == kind) return r;
  PTQ_CHECK(false);
  return kThreadRules[0];
}

int pick_threads(int threads, JobKind kind, int64_t work) {
  if (threads <= 1 || work < 0) return std::max(threads, 1);
  const int64_t extra = work / thread_rule(kind).min_work_per_extra_thread;
  return static_cast<int>(std::min<int64_t>(threads, 1 + extra));
}

int64_t convolution_work(int64_t outputs, int64_t taps, int64_t inputs, int64_t weights) {
  return outputs * taps + kConvElementCost * (outputs + inputs + weights);
}

}  // namespace ptq::exec
