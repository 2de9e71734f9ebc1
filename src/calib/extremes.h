// SPDX-License-Identifier: Apache-2.0
// scan_extremes: min and max of n > 0 floats in one read, and whether all are finite (AVX2 when the
// build has it). A zero extreme is returned as +0 whatever the sign of the zeros seen, so the result
// does not depend on which zero came first.
#pragma once

#include <cstddef>

namespace ptq::calib {

// False when some value is NaN or infinite (min and max are then unspecified).
bool scan_extremes(const float* x, size_t n, float& min, float& max);

}  // namespace ptq::calib
