// SPDX-License-Identifier: Apache-2.0
// The streamed histogram shared by the histogram observers (kl, percentile, mse, admm): one pass over
// the data, in at most kHistogramBins doubles whatever the sample count (pow2_histogram.h: bins of a
// power-of-two width anchored at 0, which merge in pairs as the range grows, so the counts are exact
// and do not depend on the order of the samples). What is counted:
//   Signed: x, over [min, max]; Spanning: x, over [min(min, 0), max(max, 0)] (the range of a grid,
//   which always holds 0); Absolute: |x|, over [0, absmax].
// The bins cover that range, from a bin edge at or below its start; a non-degenerate range gets more
// than kHistogramBins / 2 of them. A degenerate range (a constant tensor) is one bin of width 0.
#pragma once

#include <vector>

#include "pow2_histogram.h"
#include "ptq/calib/observer.h"

namespace ptq::calib {

class WindowSearch;
struct Window;

constexpr int kHistogramBins = 4096;  // at most; 2049..4096 once the range is wider than a point

enum class HistogramKind { Signed, Spanning, Absolute };

class HistogramObserver : public Observer {
 public:
  // skip_zeros: exact zeros are not counted (KL's choice, see kl.cpp).
  explicit HistogramObserver(HistogramKind kind, bool skip_zeros = false)
      : kind_(kind), skip_zeros_(skip_zeros), histogram_(kHistogramBins) {}
  void observe(const float* x, size_t n) override;
  void observe_with_extremes(const float* x, size_t n, float min, float max) override;

 protected:
  bool empty() const { return !seen_; }           // nothing observed
  float observed_min() const { return min_; }
  float observed_max() const { return max_; }
  float observed_absmax() const;
  double lo() const { return histogram_.lo(); }        // start of bin 0
  double width() const { return histogram_.width(); }  // bin width (0 for a degenerate range)
  int bins() const { return static_cast<int>(counts().size()); }
  double centre(int bin) const { return lo() + (bin + 0.5) * width(); }
  const std::vector<double>& counts() const { return histogram_.counts(); }
  int filled_bins() const;                         // bins with a count
  // [max(min, -t), min(max, t)]: a clipping threshold on |x| as a range inside what was observed.
  Range clip_range(double t) const;
  // The range of window w of a WindowSearch over this histogram, inside what was observed (a window
  // reaching an end of the histogram keeps the observed value there exactly).
  Range window_range(const WindowSearch& search, Window w) const;

 private:
  HistogramKind kind_;
  bool skip_zeros_;
  bool seen_ = false;
  float min_ = 0.0f, max_ = 0.0f;
  Pow2Histogram histogram_;
};

}  // namespace ptq::calib
