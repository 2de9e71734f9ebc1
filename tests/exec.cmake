ptq_add_test(exec_test
  unit/exec/executor_test.cpp)
