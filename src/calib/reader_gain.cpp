// SPDX-License-Identifier: Apache-2.0
// ReaderGain and reader_weights (see ptq/calib/reader_gain.h).
#include "ptq/calib/reader_gain.h"

#include <algorithm>
#include <cmath>

namespace ptq::calib {

bool ReaderGain::weighted() const {
  return exponential || std::any_of(powers.begin(), powers.end(), [](double k) { return k > 0.0; });
}

bool ReaderGain::keeps_top() const {
  return ranked || std::any_of(powers.begin(), powers.end(), [](double k) { return k < 0.0; });
}

void ReaderGain::add_power(double k) {
  if (std::find(powers.begin(), powers.end(), k) == powers.end()) powers.push_back(k);
}

namespace {

// Adds g^2 / mean_n(g^2) to w, g^2 given per bin; nothing when g^2 is 0 wherever there are counts.
void add_normalised(std::vector<double>& w, const std::vector<double>& g2, const std::vector<double>& counts) {
  double n = 0.0, sum = 0.0;
  for (size_t i = 0; i < g2.size(); ++i) n += counts[i], sum += counts[i] * g2[i];
  if (!(sum > 0.0) || !std::isfinite(sum)) return;
  const double mean = sum / n;
  for (size_t i = 0; i < g2.size(); ++i) w[i] += g2[i] / mean;
}

}  // namespace

std::vector<double> reader_weights(const ReaderGain& gain, const std::vector<double>& centres,
                                   const std::vector<double>& counts) {
  const size_t n = centres.size();
  double total = 0.0;
  for (double c : counts) total += c;
  if (!gain.weighted() || total <= 0.0) return std::vector<double>(n, 1.0);
  std::vector<double> w(n, 0.0), g2(n);
  for (double k : gain.powers) {
    if (k < 0.0) continue;  // keeps_top() instead
    for (size_t i = 0; i < n; ++i) g2[i] = std::pow(std::fabs(centres[i]), 2.0 * k);
    add_normalised(w, g2, counts);
  }
  if (gain.exponential && n > 0) {
    const double top = *std::max_element(centres.begin(), centres.end());
    for (size_t i = 0; i < n; ++i) g2[i] = std::exp(2.0 * (centres[i] - top));
    add_normalised(w, g2, counts);
  }
  return w;
}

}  // namespace ptq::calib
