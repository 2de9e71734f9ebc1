ptq_add_test(report_test
  unit/report/evaluator_test.cpp)
