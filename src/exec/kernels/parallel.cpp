// SPDX-License-Identifier: Apache-2.0
// parallel_for runs on libgomp's threads when libgomp is in the process (oneDNN built in; see
// run_gomp below), otherwise on its own pool:
// A process-wide pool of worker threads behind parallel_for. A job is published by bumping a
// job counter; workers spin briefly on it (kSpinRounds pause instructions, tens of microseconds, so
// back-to-back kernels do not pay a futex wake-up each) and then sleep on a condition variable. Tasks
// are claimed from an atomic counter; the caller runs tasks too, then spins as briefly for the
// participating workers and sleeps until the last one signals. Short spins keep an oversubscribed
// machine (more runnable threads than cores) from burning the time slices the workers need.
#include "parallel.h"

#include "thread_policy.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PTQ_PAUSE() _mm_pause()
#else
#define PTQ_PAUSE() std::this_thread::yield()
#endif

namespace ptq::exec {
namespace {

constexpr int kSpinRounds = 1 << 12;  // pause instructions (~20-100 us) before sleeping

thread_local bool t_in_task = false;

void run_inline(int64_t n, const TaskFn& fn) {
  for (int64_t i = 0; i < n; ++i) fn(i);
}

class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // False when another job is running: the caller then runs inline.
  bool run(int threads, int64_t n, const TaskFn& fn) {
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    int helpers = std::min(threads - 1, static_cast<int>(kHelperMask));
    while (static_cast<int>(workers_.size()) < helpers) {
      int id = static_cast<int>(workers_.size());
      // The worker starts from the current job word: the job published below is new to it even if
      // the thread only starts running after the publication.
      uint64_t current = job_word_.load(std::memory_order_relaxed);
      workers_.emplace_back([this, id, current] { worker_loop(id, current); });
    }
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    error_ = nullptr;
    active_.store(helpers, std::memory_order_relaxed);
    {
      // The helper count travels in the same word as the generation, so a worker never pairs one
      // job's generation with another job's participant count.
      std::lock_guard<std::mutex> lock(mutex_);
      uint64_t counter = (job_word_.load(std::memory_order_relaxed) >> kHelperBits) + 1;
      job_word_.store((counter << kHelperBits) | static_cast<uint64_t>(helpers), std::memory_order_release);
    }
    wake_.notify_all();
    run_tasks();
    for (int spin = 0; spin < kSpinRounds && active_.load(std::memory_order_acquire) != 0; ++spin) PTQ_PAUSE();
    if (active_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return active_.load(std::memory_order_acquire) == 0; });
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    return true;
  }

 private:
  Pool() = default;

  void run_tasks() {
    t_in_task = true;
    for (;;) {
      int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_) break;
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
        next_.store(n_, std::memory_order_relaxed);
      }
    }
    t_in_task = false;
  }

  void worker_loop(int id, uint64_t seen) {
    for (;;) {
      uint64_t g = seen;
      for (int spin = 0; spin < kSpinRounds && g == seen; ++spin) {
        PTQ_PAUSE();
        g = job_word_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || job_word_.load(std::memory_order_acquire) != seen; });
        if (stop_) return;
        g = job_word_.load(std::memory_order_acquire);
      }
      seen = g;
      if (static_cast<uint64_t>(id) >= (g & kHelperMask)) continue;
      run_tasks();
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {  // the last helper wakes the caller
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_one();
      }
    }
  }

  std::mutex busy_;   // held by the caller for the whole job
  std::mutex mutex_;  // guards sleeping/waking
  std::mutex error_mutex_;
  std::condition_variable wake_;  // workers wait for a job
  std::condition_variable done_;  // the caller waits for its helpers
  std::vector<std::thread> workers_;
  static constexpr int kHelperBits = 16;
  static constexpr uint64_t kHelperMask = (uint64_t{1} << kHelperBits) - 1;
  std::atomic<uint64_t> job_word_{0};  // (job counter << kHelperBits) | helper count
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};
  const TaskFn* fn_ = nullptr;
  int64_t n_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
};

// When oneDNN is linked in, its convolutions run on OpenMP (libgomp) threads. Two pools on the same
// cores fight: libgomp's workers spin after each convolution while this pool's wake for the element-wise
// work between them (MobileNetV2 on 2 threads took 2x its 1-thread time). So when libgomp is in the
// process, parallel_for runs its tasks on libgomp's team through GOMP_parallel (the entry point
// `#pragma omp parallel` compiles to), and both kinds of work share one set of threads.
using GompParallel = void (*)(void (*)(void*), void*, unsigned, unsigned);

GompParallel gomp_parallel() {
  static const GompParallel fn = reinterpret_cast<GompParallel>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
  return fn;
}

struct GompJob {
  const TaskFn* fn = nullptr;
  int64_t n = 0;
  std::atomic<int64_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
};

void gomp_body(void* data) {
  auto* job = static_cast<GompJob*>(data);
  const bool outer = t_in_task;
  t_in_task = true;
  for (int64_t i; (i = job->next.fetch_add(1, std::memory_order_relaxed)) < job->n;) {
    try {
      (*job->fn)(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(job->error_mutex);
      if (!job->error) job->error = std::current_exception();
      job->next.store(job->n, std::memory_order_relaxed);  // no new tasks
    }
  }
  t_in_task = outer;
}

std::atomic<bool> g_gomp_busy{false};

// False when another job is running (the caller then runs inline, as with Pool::run).
bool run_gomp(GompParallel parallel, int threads, int64_t n, const TaskFn& fn) {
  bool expected = false;
  if (!g_gomp_busy.compare_exchange_strong(expected, true)) return false;
  GompJob job;
  job.fn = &fn;
  job.n = n;
  parallel(gomp_body, &job, static_cast<unsigned>(threads), 0);
  g_gomp_busy.store(false);
  if (job.error) std::rethrow_exception(job.error);
  return true;
}

}  // namespace

void parallel_for(int threads, int64_t n, const TaskFn& fn, int64_t work) {
  if (n <= 0) return;
  threads = pick_threads(threads, JobKind::Tasks, work);
  if (threads <= 1 || n == 1 || t_in_task) {
    run_inline(n, fn);
    return;
  }
  if (threads > n) threads = static_cast<int>(n);
  if (GompParallel gomp = gomp_parallel()) {
    if (!run_gomp(gomp, threads, n, fn)) run_inline(n, fn);
    return;
  }
  if (!Pool::instance().run(threads, n, fn)) run_inline(n, fn);
}

}  // namespace ptq::exec
