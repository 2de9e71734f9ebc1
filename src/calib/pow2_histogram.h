// SPDX-License-Identifier: Apache-2.0
// Pow2Histogram: counts in one pass over values whose range is not known in advance, in memory that
// does not grow with their number.
//   Bin k is [k·w, (k + 1)·w) with w = 2^e: bins are anchored at 0 and their width is a power of two.
//   It holds the bins from floor(lo / w) to floor(hi / w) of every span [lo, hi] it was given, at the
//   least e for which those are at most `capacity` bins. When a new span needs more, pairs of bins
//   merge (bin k becomes bin floor(k / 2), e grows by 1) until it fits; a value's bin floor(v / w) is
//   exact (v·2^-e is exact in double), and floor(floor(v / w) / 2) = floor(v / 2w), so the counts equal
//   those of one pass at the final width: they depend on the multiset of values only, not on their
//   order, grouping or thread. The final width is the least power of two at which the whole range
//   fits, so a non-degenerate range gets more than capacity / 2 bins (the bins needed at least halve
//   per doubling, up to one).
//   While every value seen is the same (a span of one point), they are counted in one bin of width 0
//   at that value.
//   Each bin also keeps the least and the greatest value counted in it (merged with the counts).
//   resample(): the counts over `bins` equal bins of a range [lo, hi] that holds every value (the
//   last bin closed on the right). A bin whose values are all one value (a spike: 8-bit pixels, a
//   clamp's bound) goes where that value goes, exactly; in any other its least and its greatest
//   value go where they go and the rest of its count is spread evenly between them (so a bin of
//   one or two values, as in a sparse tail, is exact too). With capacity = k·bins the bins are at
//   least k/2 times finer than the resampled ones, so that assumption splits only the fine bins that
//   straddle an edge of a resampled bin.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ptq::calib {

class Pow2Histogram {
 public:
  explicit Pow2Histogram(int capacity) : capacity_(capacity) {}

  // Counts n values, all inside [lo, hi] (their extremes, or a span around them); `absolute`: counts
  // |x| (then [lo, hi] bounds |x|); `skip_zeros`: exact zeros are not counted (the span still holds them).
  void add(const float* x, size_t n, double lo, double hi, bool absolute, bool skip_zeros);

  bool empty() const { return !seen_; }
  double lo() const;     // start of counts()[0]
  double width() const;  // 0 while every value is the same
  const std::vector<double>& counts() const { return counts_; }
  std::vector<double> resample(double lo, double hi, int bins) const;

 private:
  void start(double lo, double hi);  // the first span wider than a point
  void cover(double lo, double hi);
  void merge_pairs();
  void resize_front(size_t n);  // n empty bins before the first
  void resize_back(size_t size);

  int capacity_;
  bool seen_ = false;
  bool point_ = true;   // every value so far equals point_value_ (counts_ is its one bin)
  double point_value_ = 0.0;
  int exponent_ = 0;    // w = 2^exponent_
  int64_t first_ = 0;   // bin index of counts_[0]
  std::vector<double> counts_;
  std::vector<float> least_, greatest_;  // per bin: the least and greatest value counted (+inf / -inf: none)
};

}  // namespace ptq::calib
