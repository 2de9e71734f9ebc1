// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the calibration-table JSON reader (--load-table; src/calib/calib_table.cpp). The input is
// the file. Seeds: corpus/calib_table.
#include "fuzz_util.h"
#include "ptq/calib/calibrator.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ptq::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto file = ptq::fuzz::write_scratch("table.json", data, size);
  return ptq::fuzz::expect_clean([&] { ptq::calib::load_table(file); });
}
