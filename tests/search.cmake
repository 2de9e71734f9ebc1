# SPDX-License-Identifier: Apache-2.0
ptq_add_test(search_test
  unit/search/dither_test.cpp
  unit/search/quant_sim_test.cpp
  unit/search/sensitivity_test.cpp)
