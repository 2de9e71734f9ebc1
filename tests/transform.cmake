# SPDX-License-Identifier: Apache-2.0
ptq_add_test(transform_test
  unit/transform/layer_inputs_test.cpp
  unit/transform/adaround_test.cpp
  unit/transform/gptq_test.cpp)
# These tests hand Eigen matrices to the library (src/transform/rounding.h) and get them back: Eigen's
# memory layout (alignment, handmade aligned malloc) depends on the SIMD flags, so they are built with
# the library's (ASan found the mismatch: a 16-byte-aligned matrix freed as a 32-byte one).
target_link_libraries(transform_test PRIVATE ptq_simd)
