// SPDX-License-Identifier: Apache-2.0
// How the readers of an activation amplify an error in it, for the observers that score a range by its
// expected squared error (kl's guard, mse; window_search.h).
//   A reader y = f(x) turns a small error d at x into f'(x)·d (first order), so the squared error it
//   passes on is f'(x)^2·d^2: a range chosen on the plain squared error of x fits a linear reader
//   (Conv, MatMul, Add, ...; f' constant) and no other. The planner finds the readers
//   (rewrite/reader_gain.cpp); a power-law reader has the gain |f'(x)| = |x|^k up to a constant:
//     Pow(x, p): k = p - 1 (x·x: k = 1); Sqrt: k = -1/2; Log: k = -1; Reciprocal and a Div's
//     denominator: k = -2; linear readers: k = 0; an exponential reader (Exp) has the gain e^x.
//   Two rules follow:
//   - Gains growing with |x| (k > 0, Exp): the squared error is weighted by the gain squared. Each
//     reader's weight g(c)^2 at the bin centres c is normalised to a count-weighted mean of 1 over the
//     histogram (readers count alike whatever their units), and the distinct readers' weights (linear
//     ones included) are summed: w(c) = sum_r g_r(c)^2 / mean_n(g_r^2); w = 1 when no reader is of
//     this kind. e^(2c) is computed relative to the largest centre (the normalisation cancels it); on a
//     |x| histogram it is e^(2|x|) (the sign is not known: it errs toward keeping the range).
//   - Gains unbounded at 0 (k < 0): the first-order weight is no guide, as the values it weighs most
//     are those the grid rounds to 0 (an error as large as the value) whatever the window; halving
//     the window resolves one more octave at the bottom and clips one at the top, where such a reader
//     is the most precise (measured: openWakeWord's power spectrum before its Log, weighted by 1/x^2,
//     clipped from 1.4e10 to 4.0e9 and the output cosine fell from 0.861 to 0.845). So the count-based
//     searches may not clip the top below the range the percentile method takes
//     (ObserverConfig::percentile): the window's upper edge is at least that percentile.
//   - Readers that rank the values (Softmax, LogSoftmax, Hardmax, ArgMax, TopK: a classifier's or a
//     recognizer's logits): what they read is each row's largest values, one or a few per row, which
//     a count-based search takes for outliers. Clipped, the top logits tie (the argmax becomes the
//     first of them, the largest probabilities merge): measured on MobileNetV1-0.25, kl clipped its
//     logits from 25.4 to 16.7 and lost 1.3 points of top-1. Same rule as above: the top is kept.
#pragma once

#include <vector>

namespace ptq::calib {

struct ReaderGain {
  std::vector<double> powers;  // the distinct exponents k of power-law readers (0: linear readers)
  bool exponential = false;    // an Exp reads the tensor
  bool ranked = false;         // a reader ranks the values (Softmax, ArgMax, TopK, ...)
  // True when some reader's gain grows with |x| (k > 0, exponential): the squared error is weighted.
  bool weighted() const;
  // True when some reader's gain is unbounded at 0 (k < 0) or a reader ranks the values: the top is not
  // clipped below the percentile.
  bool keeps_top() const;
  // Adds a power-law reader with exponent k (once per distinct k).
  void add_power(double k);
};

// w(c_i) for bin centres `centres` with counts `counts` (see above); all 1 when !gain.weighted() or
// the histogram is empty.
std::vector<double> reader_weights(const ReaderGain& gain, const std::vector<double>& centres,
                                   const std::vector<double>& counts);

}  // namespace ptq::calib
