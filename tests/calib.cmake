ptq_add_test(calib_test
  unit/calib/observer_test.cpp
  unit/calib/calibrator_test.cpp)
