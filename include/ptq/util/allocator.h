// SPDX-License-Identifier: Apache-2.0
// Process-wide allocator settings for programs that run the executor many times (the quantize CLI,
// ptq_bench). The executor allocates every activation anew on each run; with glibc's defaults, tensors
// above its (adaptive) mmap threshold are mapped and unmapped every time, and freed heap tops are
// trimmed, so each run pays page faults for its activations (43 % of the time on UltraFace-slim).
// Serving tensors up to 64 MiB from the heap and trimming only above 256 MiB keeps those pages mapped
// between runs. Larger tensors (big weights, a large model's activations) are still mapped. A library
// user keeps their own process's settings unless they call this.
#pragma once

namespace ptq {

void tune_allocator();

}  // namespace ptq
