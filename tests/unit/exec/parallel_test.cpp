// SPDX-License-Identifier: Apache-2.0
// parallel_for: every task runs exactly once whatever the thread count (alternating counts also
// exercise workers that start while a job is being published), exceptions reach the caller, and
// nested calls run inline.
#include <atomic>
#include <stdexcept>

#include "parallel.h"
#include "testutil.h"

using ptq::exec::parallel_for;

TEST(ParallelFor, EveryTaskOnceForAnyThreadCount) {
  for (int round = 0; round < 300; ++round) {
    const int threads = 1 + round % 4;
    const int64_t n = 1 + (round * 7) % 37;
    std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
    parallel_for(threads, n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "round " << round << " task " << i;
  }
}

TEST(ParallelFor, RethrowsTheTaskException) {
  EXPECT_THROW(parallel_for(3, 50, [](int64_t i) {
    if (i == 17) throw std::runtime_error("task 17");
  }), std::runtime_error);
  std::atomic<int> count{0};
  parallel_for(3, 50, [&](int64_t) { count.fetch_add(1); });  // the pool still works afterwards
  EXPECT_EQ(count.load(), 50);
}

TEST(ParallelFor, NestedCallsRunInline) {
  std::atomic<int> count{0};
  parallel_for(2, 8, [&](int64_t) { parallel_for(2, 5, [&](int64_t) { count.fetch_add(1); }); });
  EXPECT_EQ(count.load(), 40);
}
