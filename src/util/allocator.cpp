// SPDX-License-Identifier: Apache-2.0
#include "ptq/util/allocator.h"

#include <malloc.h>

namespace ptq {

void tune_allocator() {
#ifdef M_MMAP_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

}  // namespace ptq
