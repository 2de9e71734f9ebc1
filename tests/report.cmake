ptq_add_test(report_test
  unit/report/evaluator_test.cpp
  unit/report/html_report_test.cpp)
