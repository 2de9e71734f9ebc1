// SPDX-License-Identifier: Apache-2.0
// BufferPool: recycles tensor buffers so that an executor's steady state allocates none.
// - While a BufferPoolScope is alive on a thread, every Tensor made on that thread takes its buffer
//   (and the block that counts its references) from the pool; when the last reference goes, they
//   return to the pool instead of the heap, from whichever thread drops it.
// - Buffers are kept per size class (sizes rounded up to 64 bytes, and above 4 KiB to an eighth of
//   their power of two: at most 12.5 % unused), so a run that repeats the previous one's shapes finds
//   every buffer it needs: the first run allocates, the next ones take and give back.
// - trim() frees what nobody took since the previous trim (shapes that stopped occurring, e.g. a
//   recognizer fed another width), so the pool holds at most about what one run needed.
// - Thread-safe; a buffer outliving the pool's owner keeps the pool alive until it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace ptq {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  static std::shared_ptr<BufferPool> create();
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A 64-byte aligned buffer of at least `bytes` bytes, owned by the returned pointer.
  std::shared_ptr<void> allocate(size_t bytes);
  // Frees the pooled buffers not taken since the previous trim.
  void trim();

  struct Stats {
    int64_t fresh = 0;    // buffers (and reference blocks) taken from the heap
    int64_t reused = 0;   // taken from the pool
    size_t held_bytes = 0;  // pooled now, free to take
  };
  Stats stats() const;

  // The size class `bytes` falls in (exposed for tests).
  static size_t size_class(size_t bytes);

  // Internal: raw blocks of one size class (the reference blocks come through here too).
  void* take(size_t bytes);
  void give(void* p, size_t bytes);

 private:
  BufferPool() = default;
  struct Entry {
    void* p;
    uint64_t epoch;  // trim() count when it came back
  };
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<Entry>> free_;
  uint64_t epoch_ = 0;
  Stats stats_;
};

// Routes this thread's tensor allocations to `pool` (nullptr: the heap) for the scope's lifetime;
// scopes nest.
class BufferPoolScope {
 public:
  explicit BufferPoolScope(BufferPool* pool);
  ~BufferPoolScope();
  BufferPoolScope(const BufferPoolScope&) = delete;
  BufferPoolScope& operator=(const BufferPoolScope&) = delete;

 private:
  BufferPool* previous_;
};

// The pool this thread's tensors come from, or nullptr.
BufferPool* current_buffer_pool();

}  // namespace ptq
