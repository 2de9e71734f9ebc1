// SPDX-License-Identifier: Apache-2.0
// The streamed histogram shared by the histogram observers (kl, percentile, mse, admm), in one pass
// over the data and memory that does not grow with the sample count:
//   while observing, a Pow2Histogram of at most kFineBins bins (pow2_histogram.h: bins of a
//   power-of-two width anchored at 0 that merge in pairs as the range grows; exact counts, whatever
//   the order of the samples);
//   for the search, those counts resampled to kHistogramBins equal bins over [min, max] (Signed),
//   [min(min, 0), max(max, 0)] (Spanning: the range of a grid, which always holds 0) or [0, absmax]
//   (Absolute, |x|), the last bin closed on the right: the histogram a second pass over exactly that
//   range would count, except where a fine bin (4..8 per bin) holding three or more distinct values
//   straddles a bin edge (its count is then split evenly between its least and greatest value).
// A degenerate range (lo == hi: a constant tensor) has width 0 and everything in bin 0.
#pragma once

#include <vector>

#include "pow2_histogram.h"
#include "ptq/calib/observer.h"

namespace ptq::calib {

class WindowSearch;
struct Window;

constexpr int kHistogramBins = 2048;
constexpr int kFineBins = 8 * kHistogramBins;  // 256 KiB at most per observer (counts, least, greatest)

enum class HistogramKind { Signed, Spanning, Absolute };

class HistogramObserver : public Observer {
 public:
  // skip_zeros: exact zeros are not counted (KL's choice, see kl.cpp).
  explicit HistogramObserver(HistogramKind kind, bool skip_zeros = false)
      : kind_(kind), skip_zeros_(skip_zeros), fine_(kFineBins) {}
  void observe(const float* x, size_t n) override;
  void observe_with_extremes(const float* x, size_t n, float min, float max) override;

 protected:
  bool empty() const { return !seen_; }           // nothing observed
  float observed_min() const { return min_; }
  float observed_max() const { return max_; }
  float observed_absmax() const;
  // The resampled histogram (built on first use, after the last observe).
  double lo() const { return view().lo; }
  double width() const { return view().width; }  // bin width (0 for a degenerate range)
  double centre(int bin) const { return lo() + (bin + 0.5) * width(); }
  const std::vector<double>& counts() const { return view().counts; }
  int filled_bins() const;                         // bins with a count
  // [max(min, -t), min(max, t)]: a clipping threshold on |x| as a range inside what was observed.
  Range clip_range(double t) const;
  // The range of window w of a WindowSearch over this histogram, inside what was observed (a window
  // reaching an end of the histogram keeps the observed value there exactly).
  Range window_range(const WindowSearch& search, Window w) const;

 private:
  struct View {
    bool ready = false;
    double lo = 0.0, width = 0.0;
    std::vector<double> counts;
  };
  const View& view() const;

  HistogramKind kind_;
  bool skip_zeros_;
  bool seen_ = false;
  float min_ = 0.0f, max_ = 0.0f;
  Pow2Histogram fine_;
  mutable View view_;
};

}  // namespace ptq::calib
