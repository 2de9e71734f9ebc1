# SPDX-License-Identifier: Apache-2.0
ptq_add_test(transform_test
  unit/transform/layer_inputs_test.cpp
  unit/transform/adaround_test.cpp
  unit/transform/gptq_test.cpp)
