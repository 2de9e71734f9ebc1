// SPDX-License-Identifier: Apache-2.0
// Clipping windows over a streamed histogram (histogram.h), scored on the grid the tensor is actually
// quantized to. Shared by the observers that search a range (kl, mse).
//   A window is a run of bins [a, e): the range [lo + a·w, lo + e·w] (w = bin width). On a |x|
//   histogram (symmetric specs) a window is [0, e) and means [-e·w, e·w].
//   The grid of a window is compute_qparams(range, spec); every bin centre c maps to the code
//   QuantizeLinear gives it, clamp(round(c / scale) + zero point, qmin, qmax).
//   squared_error: sum_k n_k w_k (fq(c_k) - c_k)^2 over all bins (inside the window: rounding; outside:
//     clipping to the window's edge), fq = dequantize(quantize(.)) on that grid; w_k: the readers'
//     weight of bin k (reader_gain.h; 1 when every reader is linear).
//   With readers whose gain is unbounded at 0 (ReaderGain::keeps_top), the upper edge stays at or above
//   the bin where the cumulative count reaches the percentile's share (as the percentile observer
//   computes it: p on a |x| histogram, 1 - (1 - p)/2 on a two-sided one).
//   A saturated end — the last (two-sided histograms: or first) occupied bin holding at least 0.1 % of
//   the counted values — is never clipped.
//   divergence: TensorRT's entropy criterion on that grid (see kl.cpp).
//   A sweep moves one edge over the bin positions that keep 0 inside the window and the window at
//   least `min_width` bins wide, the other edge fixed, coarse to fine: every kStride-th position (and
//   the widest), `pick` chooses one, then the positions within kStride of it are added and `pick`
//   chooses again among all evaluated candidates (narrowest first). With a KL guard g > 0 the
//   divergence is computed for candidates whose error is at most g times the least evaluated
//   (others get +inf).
//   descend(): coordinate descent over the free edges from the full window (the upper edge, then the
//   lower one, until neither moves, at most kMaxRounds rounds); `pick` chooses a candidate of a sweep.
#pragma once

#include <functional>
#include <vector>

#include "ptq/calib/reader_gain.h"
#include "ptq/quant/qspec.h"

namespace ptq::calib {

struct Window {
  int a = 0, e = 0;  // bins [a, e)
};

struct Candidate {
  int edge = 0;          // the moving edge (e for an upper sweep, a for a lower one)
  double error = 0.0;    // squared_error
  double kl = 0.0;       // divergence (+inf when not computed)
};

class WindowSearch {
 public:
  // counts over [lo, lo + counts.size()·width]; absolute: a |x| histogram (lo must be 0); gain: how the
  // tensor's readers weigh its error; percentile (in %): the least top with gain.keeps_top().
  WindowSearch(const std::vector<double>& counts, double lo, double width, bool absolute, const QuantSpec& spec,
               const ReaderGain& gain = {}, double percentile = 100.0);

  int bins() const { return static_cast<int>(counts_.size()); }
  Range range(int a, int e) const;
  // Codes of the grid on the histogram's side(s) of 0 (|x|: one side).
  int64_t levels() const;
  // True when the histogram has values below / above 0 (the lower edge can move only then).
  bool lower_free() const { return !absolute_ && lo_ < 0.0; }
  bool upper_free() const { return absolute_ || lo_ + bins() * width_ > 0.0; }

  double squared_error(int a, int e);
  double divergence(int a, int e);

  using Pick = std::function<size_t(const std::vector<Candidate>&)>;
  // The chosen position of the free edge; `upper`: e moves with a fixed, else a moves with e fixed.
  // Returns the current edge when no position fits.
  int sweep(Window w, bool upper, int min_width, double kl_guard, const Pick& pick);
  Window descend(int min_width, double kl_guard, const Pick& pick);

 private:
  void grid(int a, int e);
  double centre(int k) const { return lo_ + (k + 0.5) * width_; }
  double code(int k) const;
  void spread(size_t first, size_t last, int a);
  void score(std::vector<Candidate>& c, size_t first, Window w, bool upper, double kl_guard);

  const std::vector<double>& counts_;
  double lo_, width_;
  bool absolute_;
  QuantSpec spec_;
  std::vector<double> weight_;  // w_k
  int least_top_ = 0;           // the upper edge stays at or above this bin position
  int greatest_bottom_ = 1 << 30;  // the lower edge stays at or below this bin position
  // prefix sums of n (KL's mass) and of n·w, n·w·c, n·w·c^2 (clipping error in O(1))
  std::vector<double> n_, nw_, nwc_, nwcc_;
  // current grid
  double scale_ = 1.0, zero_point_ = 0.0, qmin_ = 0.0, qmax_ = 0.0;
  std::vector<double> p_, q_;
};

}  // namespace ptq::calib
