// SPDX-License-Identifier: Apache-2.0
// Progress bar on stderr for long loops over samples: "label [#####.....] 120/300  45.2 samples/s  ETA 4s".
// On a terminal it redraws one line (at most 10 times a second); otherwise (CI logs) it prints a line
// every 10 seconds and one at the end. Silent when disabled or when the log level is above info (--quiet).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace ptq {

class Progress {
 public:
  // `unit`: what is counted ("samples", "layers").
  Progress(std::string label, size_t total, bool enabled, std::string unit = "samples");
  ~Progress();
  void update(size_t done);
  // Ends the line and logs "label: N <unit> in T s (R <unit>/s)".
  void finish();
  double elapsed_seconds() const;

 private:
  void draw(size_t done, bool final_line);
  std::string label_, unit_;
  size_t total_;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  size_t done_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace ptq
