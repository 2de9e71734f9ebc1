// SPDX-License-Identifier: Apache-2.0
// The streamed histogram shared by the histogram observers (kl, percentile, mse, admm). Two passes
// over the data, so memory stays kHistogramBins doubles whatever the sample count:
//   pass 0: the observed min and max (and absmax);
//   pass 1: counts in kHistogramBins equal bins over [min, max] (Signed), [min(min, 0), max(max, 0)]
//           (Spanning: the range of a grid, which always holds 0) or [0, absmax] (Absolute, |x|);
//           bin = floor((v - lo) / width), the last bin closed on the right; a value outside the
//           pass-0 range (which the same data cannot produce) goes to the nearest end bin.
// A degenerate range (lo == hi: a constant tensor) has width 0 and everything in bin 0.
#pragma once

#include <vector>

#include "ptq/calib/observer.h"

namespace ptq::calib {

class WindowSearch;
struct Window;

constexpr int kHistogramBins = 2048;

enum class HistogramKind { Signed, Spanning, Absolute };

class HistogramObserver : public Observer {
 public:
  // skip_zeros: exact zeros are not counted in pass 1 (KL's choice, see kl.cpp).
  explicit HistogramObserver(HistogramKind kind, bool skip_zeros = false) : kind_(kind), skip_zeros_(skip_zeros) {}
  int passes() const override { return 2; }
  void begin_pass(int pass) override;
  void observe(const float* x, size_t n) override;
  void observe_with_extremes(const float* x, size_t n, float min, float max) override;

 protected:
  bool empty() const { return !seen_; }           // nothing observed in pass 0
  float observed_min() const { return min_; }
  float observed_max() const { return max_; }
  float observed_absmax() const;
  double lo() const { return lo_; }               // histogram range
  double width() const { return width_; }         // bin width (0 for a degenerate range)
  double centre(int bin) const { return lo_ + (bin + 0.5) * width_; }
  const std::vector<double>& counts() const { return counts_; }
  int filled_bins() const;                         // bins with a count
  // [max(min, -t), min(max, t)]: a clipping threshold on |x| as a range inside what was observed.
  Range clip_range(double t) const;
  // The range of window w of a WindowSearch over this histogram, inside what was observed (a window
  // reaching an end of the histogram keeps the observed value there exactly).
  Range window_range(const WindowSearch& search, Window w) const;

 private:
  HistogramKind kind_;
  bool skip_zeros_;
  int pass_ = 0;
  bool seen_ = false;
  float min_ = 0.0f, max_ = 0.0f;
  double lo_ = 0.0, width_ = 0.0, inv_width_ = 0.0;
  std::vector<double> counts_;
};

}  // namespace ptq::calib
