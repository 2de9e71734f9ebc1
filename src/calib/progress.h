// SPDX-License-Identifier: Apache-2.0
// A one-line progress bar on stderr, redrawn with a carriage return at most every kRedrawSeconds:
//   "calibrating (pass 1/2)  340/1000  85.2 samples/s  ETA 0:07"
// Silent when disabled, when stderr is not a terminal, or when logging is below info (--quiet).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace ptq::calib {

class Progress {
 public:
  Progress(std::string label, size_t total, bool enabled);
  ~Progress();  // ends the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(size_t done);

 private:
  void draw(size_t done);

  std::string label_;
  size_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace ptq::calib
