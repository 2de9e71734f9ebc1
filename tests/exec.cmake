ptq_add_test(exec_test
  unit/exec/executor_test.cpp)
ptq_add_test(conformance_test
  conformance/node_tests.cpp)
