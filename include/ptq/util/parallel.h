// SPDX-License-Identifier: Apache-2.0
// run_tasks: tasks 0..n-1 on up to `threads` threads (0: all cores), for work split into independent
// tasks above the executor (one calibration target, one layer of a sensitivity analysis). Each task
// writes only its own results, so the thread count cannot change any of them. The first exception
// thrown by a task is rethrown after all threads stopped; tasks not started by then are skipped.
#pragma once

#include <cstddef>
#include <functional>

namespace ptq {

// Threads for a --threads value (0: the machine's cores).
int resolve_threads(int threads);
void run_tasks(int threads, size_t n, const std::function<void(size_t task)>& fn);

}  // namespace ptq
