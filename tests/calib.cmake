ptq_add_test(calib_test
  unit/calib/observer_test.cpp
  unit/calib/calibrator_test.cpp
  unit/calib/data_reader_test.cpp
  unit/calib/eq_test.cpp
  unit/calib/weight_observer_test.cpp
  unit/calib/softmax_rows_test.cpp
  unit/calib/reader_gain_test.cpp
  unit/calib/pow2_histogram_test.cpp)
target_include_directories(calib_test PRIVATE ${PTQ_STB_INCLUDE_DIR} ${PROJECT_SOURCE_DIR}/src/calib)
target_link_libraries(calib_test PRIVATE ${PTQ_STB_LIBRARY} PkgConfig::libzip)
ptq_add_test(calib_cli_test e2e/calibrate_cli_test.cpp)
add_dependencies(calib_cli_test quantize)
