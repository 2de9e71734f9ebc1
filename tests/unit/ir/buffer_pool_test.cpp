// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/buffer_pool.h"

#include <thread>

#include "ptq/ir/tensor.h"
#include "testutil.h"

using namespace ptq;

TEST(BufferPool, SizeClassesWasteAtMostAnEighth) {
  EXPECT_EQ(BufferPool::size_class(0), 64u);
  EXPECT_EQ(BufferPool::size_class(1), 64u);
  EXPECT_EQ(BufferPool::size_class(65), 128u);
  EXPECT_EQ(BufferPool::size_class(4096), 4096u);
  EXPECT_EQ(BufferPool::size_class(4097), 4608u);         // 4096 + 512
  EXPECT_EQ(BufferPool::size_class(1 << 20), size_t{1} << 20);
  EXPECT_EQ(BufferPool::size_class((1 << 20) + 1), (size_t{1} << 20) + (1 << 17));
  for (size_t b = 1; b < (size_t{1} << 24); b = b * 3 + 1) {
    const size_t c = BufferPool::size_class(b);
    EXPECT_GE(c, b);
    EXPECT_LE(c, std::max<size_t>(b + b / 8 + 64, 128)) << b;
    EXPECT_EQ(c % 64, 0u);
  }
}

TEST(BufferPool, TensorsMadeInAScopeReuseTheirBuffersAndTrimFreesWhatWasNotTaken) {
  auto pool = BufferPool::create();
  const void* first = nullptr;
  {
    BufferPoolScope scope(pool.get());
    Tensor a(DType::Float32, {16, 100});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw()) % 64, 0u);
    first = a.raw();
  }
  const BufferPool::Stats after_one = pool->stats();
  EXPECT_EQ(after_one.fresh, 2);  // the buffer and its reference block
  EXPECT_EQ(after_one.reused, 0);
  EXPECT_GT(after_one.held_bytes, 6400u);
  {
    BufferPoolScope scope(pool.get());
    Tensor b(DType::Int32, {1600});  // same bytes: the same buffer
    EXPECT_EQ(b.raw(), first);
    Tensor c = b;  // a copy shares it, allocates nothing
    EXPECT_TRUE(c.shares_buffer(b));
  }
  EXPECT_EQ(pool->stats().fresh, 2);
  EXPECT_EQ(pool->stats().reused, 2);
  Tensor outside(DType::Float32, {16, 100});  // no scope: the heap
  EXPECT_EQ(pool->stats().fresh, 2);
  // Returned since the last trim: kept; not taken again before the next one: freed.
  pool->trim();
  EXPECT_EQ(pool->stats().held_bytes, after_one.held_bytes);
  pool->trim();
  EXPECT_EQ(pool->stats().held_bytes, 0u);
}

TEST(BufferPool, ABufferOutlivingItsPoolsOwnerAndThreadReturnsSafely) {
  Tensor kept;
  {
    auto pool = BufferPool::create();
    BufferPoolScope scope(pool.get());
    kept = Tensor(DType::Float32, {1000});
    kept.data<float>()[999] = 1.5f;
  }  // the owner's reference is gone; the tensor keeps the pool alive
  std::thread other([t = std::move(kept)]() mutable {
    EXPECT_EQ(t.data<float>()[999], 1.5f);
    t = Tensor();  // returned (and the pool freed) on another thread
  });
  other.join();
}
