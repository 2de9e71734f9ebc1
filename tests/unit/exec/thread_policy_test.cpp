// SPDX-License-Identifier: Apache-2.0
// thread_policy: the thread count picked from a job's size (the decision only; timings are measured by
// tools/bench/speed.py, not here), and convolution_work on MobileNetV1-0.25's layer shapes.
#include "thread_policy.h"
#include "testutil.h"

using ptq::exec::convolution_work;
using ptq::exec::JobKind;
using ptq::exec::pick_threads;
using ptq::exec::thread_rule;

namespace {

struct PickCase {
  int threads;
  int64_t quarters;  // work in quarters of the kind's min_work_per_extra_thread
  int expected;
};

const PickCase kPickCases[] = {
    {1, 400, 1},  // one thread stays one
    {2, 0, 1},    // no work
    {2, 3, 1},    // 3/4 of the minimum
    {2, 4, 2},    // exactly the minimum for one extra thread
    {2, 400, 2},  // never more than requested
    {4, 7, 2},    // 7/4: one extra thread
    {4, 8, 3},
    {4, 12, 4},
    {8, 12, 4},   // 3 minimums: 3 extra threads, though 8 are available
};

}  // namespace

TEST(ThreadPolicy, PicksThreadsFromWork) {
  for (JobKind kind : {JobKind::Tasks, JobKind::Convolution}) {
    const int64_t rule = thread_rule(kind).min_work_per_extra_thread;
    ASSERT_GT(rule, 0);
    for (const PickCase& c : kPickCases)
      EXPECT_EQ(pick_threads(c.threads, kind, rule * c.quarters / 4), c.expected)
          << "kind " << static_cast<int>(kind) << ", " << c.threads << " threads, work " << c.quarters << "/4 of the rule";
  }
}

TEST(ThreadPolicy, UnknownWorkUsesEveryThread) {
  EXPECT_EQ(pick_threads(3, JobKind::Tasks, -1), 3);
  EXPECT_EQ(pick_threads(0, JobKind::Tasks, -1), 1);
  EXPECT_EQ(pick_threads(0, JobKind::Convolution, 1 << 30), 1);
}

TEST(ThreadPolicy, EveryKindHasItsRow) {
  EXPECT_EQ(thread_rule(JobKind::Tasks).kind, JobKind::Tasks);
  EXPECT_EQ(thread_rule(JobKind::Convolution).kind, JobKind::Convolution);
}

// Layers of MobileNetV1-0.25-128 on 2 threads: the 3x3 depthwise layers at 8x8 and 4x4 (2.5-3.5 us on
// one thread) stay on one; its 1x1 layers of 0.5M multiply-adds and more, and the 1001-way classifier
// (1 MB of weights), are split.
TEST(ThreadPolicy, SmallConvolutionsRunOnOneThread) {
  struct Layer {
    const char* name;
    int64_t C, M, group, H, W, OH, OW, k;
    int expected;
  };
  const Layer layers[] = {
      {"depthwise 128ch 8x8", 128, 128, 128, 8, 8, 8, 8, 3, 1},
      {"depthwise 256ch 4x4", 256, 256, 256, 4, 4, 4, 4, 3, 1},
      {"depthwise 32ch 32x32 stride 2", 32, 32, 32, 32, 32, 16, 16, 3, 1},
      {"depthwise 8ch 64x64", 8, 8, 8, 64, 64, 64, 64, 3, 2},
      {"1x1 16->32 at 32x32", 16, 32, 1, 32, 32, 32, 32, 1, 2},
      {"1x1 128->128 at 8x8", 128, 128, 1, 8, 8, 8, 8, 1, 2},
      {"classifier 256->1001", 256, 1001, 1, 1, 1, 1, 1, 1, 2},
  };
  for (const Layer& l : layers) {
    const int64_t taps = l.C / l.group * l.k * l.k;
    const int64_t work = convolution_work(l.M * l.OH * l.OW, taps, l.C * l.H * l.W, l.M * taps);
    EXPECT_EQ(pick_threads(2, JobKind::Convolution, work), l.expected) << l.name << ": work " << work;
  }
}
