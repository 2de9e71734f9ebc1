ptq_add_test(exec_test
  unit/exec/executor_test.cpp
  unit/exec/opset_variants_test.cpp
  unit/exec/control_flow_test.cpp
  unit/exec/eltwise_test.cpp
  unit/exec/gelu_test.cpp)
ptq_add_test(conformance_test
  conformance/node_tests.cpp)
# Compute kernels (exec-compute): one file per kernel family; parallel_test reaches into src/exec/kernels.
ptq_add_test(exec_compute_test
  unit/exec/conv_test.cpp
  unit/exec/gemm_test.cpp
  unit/exec/pool_test.cpp
  unit/exec/norm_test.cpp
  unit/exec/rnn_test.cpp
  unit/exec/quantize_test.cpp
  unit/exec/parallel_test.cpp
  unit/exec/thread_policy_test.cpp
  unit/exec/fusion_test.cpp
  unit/exec/layout_test.cpp
  unit/exec/transpose_test.cpp
  unit/exec/copy_test.cpp)
target_include_directories(exec_compute_test PRIVATE ${PROJECT_SOURCE_DIR}/src/exec/kernels)
# The 8-lane blocked layout (dnnl_conv.h: AVX2's nChw8c) on any machine: the layout and oneDNN tests again
# with it forced (on an AVX2-only machine it is the default and this repeats them).
add_test(NAME Layout.EightLaneBlocks
         COMMAND exec_compute_test --gtest_filter=Layout.*:Conv.*)
set_tests_properties(Layout.EightLaneBlocks PROPERTIES ENVIRONMENT PTQ_CHANNEL_BLOCK=8 LABELS unit TIMEOUT 600)
# The executor's steady-state allocations: this binary replaces the global operator new to count them.
ptq_add_test(memory_plan_test
  unit/exec/memory_plan_test.cpp)
target_include_directories(memory_plan_test PRIVATE ${PROJECT_SOURCE_DIR}/src/exec/kernels)
