ptq_add_test(exec_test
  unit/exec/executor_test.cpp
  unit/exec/opset_variants_test.cpp
  unit/exec/control_flow_test.cpp
  unit/exec/eltwise_test.cpp)
ptq_add_test(conformance_test
  conformance/node_tests.cpp)
