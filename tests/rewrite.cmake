# SPDX-License-Identifier: Apache-2.0
ptq_add_test(rewrite_test
  unit/rewrite/rewrite_helpers.cpp
  unit/rewrite/rules_test.cpp
  unit/rewrite/rewrite_test.cpp
  unit/rewrite/passes_test.cpp
  unit/rewrite/qat_test.cpp
  unit/rewrite/four_bit_test.cpp
  unit/rewrite/blocked_weights_test.cpp
  unit/rewrite/transformer_rules_test.cpp
  unit/rewrite/smooth_quant_test.cpp
  unit/rewrite/channel_equalize_test.cpp
  unit/rewrite/channel_split_test.cpp
  unit/rewrite/subgraph_test.cpp
  unit/rewrite/target_test.cpp
  unit/rewrite/reader_gain_test.cpp)

# ONNX Runtime interop: tools/ort/install.sh puts npm onnxruntime-node into tools/ort/node_modules
# (idempotent, instant when present); the ctest fixture `ort_node` runs it before the interop tests.
find_program(PTQ_NODE node)
if(NOT PTQ_NODE)
  message(WARNING "ptq: node (Node.js) not found: the ONNX Runtime interop tests are not built. "
                  "Install it with: apt-get install -y nodejs npm")
else()
  set(PTQ_ORT_DIR ${PROJECT_SOURCE_DIR}/tools/ort)
  add_test(NAME ort_node_install COMMAND ${PTQ_ORT_DIR}/install.sh)
  set_tests_properties(ort_node_install PROPERTIES FIXTURES_SETUP ort_node TIMEOUT 600)
  add_executable(ort_interop_test
    interop/ort_util.cpp
    interop/interop_models.cpp
    interop/ort_interop_test.cpp
    interop/ort_fusion_test.cpp
    interop/transformer_interop_test.cpp
    interop/ort_recurrent_test.cpp
    interop/ort_target_test.cpp
    interop/qat_interop_test.cpp
    interop/fp16_interop_test.cpp
    interop/ort_shapes_test.cpp
    interop/ort_external_data_test.cpp
    interop/ort_split_test.cpp)
  target_compile_definitions(ort_interop_test PRIVATE PTQ_ORT_DIR="${PTQ_ORT_DIR}")
  target_link_libraries(ort_interop_test PRIVATE ptq_testutil GTest::gtest_main ptq_warnings)
  add_dependencies(ort_interop_test quantize)  # qat_interop_test runs the CLI
  gtest_discover_tests(ort_interop_test DISCOVERY_TIMEOUT 60
    PROPERTIES TIMEOUT 600 FIXTURES_REQUIRED ort_node LABELS interop)
endif()
