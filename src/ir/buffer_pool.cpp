// SPDX-License-Identifier: Apache-2.0
#include "ptq/ir/buffer_pool.h"

#include <cstdlib>

#include "ptq/util/error.h"

namespace ptq {

namespace {

thread_local BufferPool* t_pool = nullptr;

constexpr size_t kAlignment = 64;
constexpr size_t kExactUpTo = 4096;  // classes of 64 bytes up to here, then eighths of a power of two

// Returns a buffer to the pool it came from (keeps the pool alive until then).
struct GiveBack {
  std::shared_ptr<BufferPool> pool;
  size_t bytes;
  void operator()(void* p) const { pool->give(p, bytes); }
};

// Allocates the shared_ptr's reference block from the pool too.
template <class T>
struct BlockAllocator {
  using value_type = T;
  std::shared_ptr<BufferPool> pool;
  explicit BlockAllocator(std::shared_ptr<BufferPool> p) : pool(std::move(p)) {}
  template <class U>
  BlockAllocator(const BlockAllocator<U>& other) : pool(other.pool) {}  // NOLINT: rebinding
  T* allocate(size_t n) { return static_cast<T*>(pool->take(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { pool->give(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const BlockAllocator<U>& other) const { return pool == other.pool; }
  template <class U>
  bool operator!=(const BlockAllocator<U>& other) const { return pool != other.pool; }
};

}  // namespace

std::shared_ptr<BufferPool> BufferPool::create() { return std::shared_ptr<BufferPool>(new BufferPool()); }

BufferPool::~BufferPool() {
  for (auto& kv : free_)
    for (const Entry& e : kv.second) std::free(e.p);
}

size_t BufferPool::size_class(size_t bytes) {
  const size_t r = bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (r <= kExactUpTo) return r;
  size_t power = kExactUpTo;
  while (power * 2 <= r) power *= 2;
  const size_t step = power / 8;
  return (r + step - 1) / step * step;
}

void* BufferPool::take(size_t bytes) {
  const size_t c = size_class(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(c);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back().p;
      it->second.pop_back();
      stats_.reused += 1;
      stats_.held_bytes -= c;
      return p;
    }
    stats_.fresh += 1;
  }
  void* p = std::aligned_alloc(kAlignment, c);
  if (!p) PTQ_FAIL(Error, "out of memory allocating ", bytes, " bytes");
  return p;
}

void BufferPool::give(void* p, size_t bytes) {
  const size_t c = size_class(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  free_[c].push_back({p, epoch_});
  stats_.held_bytes += c;
}

void BufferPool::trim() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& kv : free_) {
    std::vector<Entry>& v = kv.second;
    size_t kept = 0;
    for (const Entry& e : v) {
      if (e.epoch < epoch_) {
        std::free(e.p);
        stats_.held_bytes -= kv.first;
      } else {
        v[kept++] = e;
      }
    }
    v.resize(kept);
  }
  epoch_ += 1;
}

BufferPool::Stats BufferPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::shared_ptr<void> BufferPool::allocate(size_t bytes) {
  const size_t c = size_class(bytes);
  std::shared_ptr<BufferPool> self = shared_from_this();
  // On a failure to make the reference block, shared_ptr gives the buffer back through GiveBack.
  return std::shared_ptr<void>(take(c), GiveBack{self, c}, BlockAllocator<char>(self));
}

BufferPoolScope::BufferPoolScope(BufferPool* pool) : previous_(t_pool) { t_pool = pool; }
BufferPoolScope::~BufferPoolScope() { t_pool = previous_; }

BufferPool* current_buffer_pool() { return t_pool; }

}  // namespace ptq
