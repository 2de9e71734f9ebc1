// SPDX-License-Identifier: Apache-2.0
// parallel_for: runs tasks 0..n-1 on up to `threads` threads (the caller plus pooled workers that
// live as long as the process and sleep between calls).
// Determinism contract: kernels split their work into tasks from the problem shape only, never from
// the thread count, and each task writes its own outputs; which thread runs a task then cannot change
// any result bit.
// A call made while another parallel_for is running (nested, or from a second executor on another
// thread) runs its tasks inline on the calling thread. The first exception thrown by a task is
// rethrown to the caller after all started tasks finished.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace ptq::exec {

// A non-owning reference to a callable `void(int64_t task)`: what parallel_for runs. Unlike a
// std::function it never allocates (a lambda capturing a kernel's locals by reference is larger than
// std::function's inline buffer, so every parallel_for call allocated). Bound to a temporary lambda
// for the duration of the call only: never store one.
class TaskFn {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, TaskFn>>>
  TaskFn(F&& f)  // NOLINT: implicit, as std::function's
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, int64_t task) { (*static_cast<std::remove_reference_t<F>*>(o))(task); }) {}
  void operator()(int64_t task) const { call_(object_, task); }

 private:
  void* object_;
  void (*call_)(void*, int64_t);
};

// `work` (optional): the job's size in elementary operations; it caps the threads used
// (thread_policy.h, JobKind::Tasks: small jobs run inline, a wake-up and a join would cost more than
// they save).
void parallel_for(int threads, int64_t n, const TaskFn& fn, int64_t work = -1);

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Per-thread scratch memory that keeps its capacity between calls (no allocation per node in steady
// state). Each (type, slot) pair is a separate buffer; the size is bounded by the kernels' tiling.
template <class T, int Slot = 0>
T* thread_scratch(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

}  // namespace ptq::exec
