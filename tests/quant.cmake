ptq_add_test(quant_test
  unit/quant/scale_test.cpp)
