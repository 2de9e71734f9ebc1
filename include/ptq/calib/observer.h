// SPDX-License-Identifier: Apache-2.0
// Observers: one per calibration method (src/calib/observers/<name>.cpp), registered in one table
// (src/calib/observer_table.cpp) that drives the --method check, its help text and the tests.
// An observer only collects statistics (observe) and turns them into the range handed to
// compute_qparams (compute_range); it never computes a scale itself.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ptq/calib/reader_gain.h"
#include "ptq/quant/qspec.h"

namespace ptq::calib {

// What an observer is told when it is created.
struct ObserverConfig {
  QuantSpec spec;                // the grid the range is for (symmetric or not, type, reduce_range)
  float percentile = 99.999f;    // "percentile": kept share of |x| (symmetric) or of x (two-sided), in %
  float moving_average = 0.0f;   // "minmax": 0 = running min/max, else the EMA constant c in (0, 1]
  ReaderGain gain;               // how the tensor's readers weigh its error ("kl", "mse": reader_gain.h)
};

class Observer {
 public:
  virtual ~Observer() = default;
  // Accumulates n finite values: one tensor of one sample (or one channel of it), in one pass over
  // the samples (memory must not grow with their number). Chunks of one tensor may arrive as several
  // calls; for every method but moving-average minmax the result equals one call on the concatenation.
  virtual void observe(const float* x, size_t n) = 0;
  // observe(x, n) for values whose min and max the caller has already found (TargetObserver does,
  // for the table): an observer that needs only those does not read x again.
  virtual void observe_with_extremes(const float* x, size_t n, float min, float max) {
    (void)min, (void)max;
    observe(x, n);
  }
  // Whether the result is the same whatever the order of the observe() calls (every method but
  // moving-average minmax): the calibrator then streams samples on several threads at once.
  virtual bool order_independent() const { return true; }
  // Whether observe_with_extremes uses only min, max and n (minmax): x may then be null, and a
  // per-channel target hands over each channel's extremes without gathering its values.
  virtual bool extremes_only() const { return false; }
  // The range handed to compute_qparams ([0, 0] when nothing was observed).
  virtual Range compute_range() const = 0;
};

using ObserverFactory = std::unique_ptr<Observer> (*)(const ObserverConfig& config);

// Context for a method's refinement step after all observers are done (EQ's per-layer search).
struct RefineContext;

// One row per method.
struct ObserverEntry {
  const char* name;                 // --method key
  const char* help;                 // one line for --help
  ObserverFactory make_activation;  // observer for activations (streamed through the executor)
  ObserverFactory make_weight;      // observer for weights (read from the initializers)
  void (*refine)(RefineContext& context);  // nullptr, or a step run after observation (eq)
};

// The observer table (src/calib/observer_table.cpp).
const std::vector<ObserverEntry>& observer_table();
// The row of `name`; throws UsageError listing the known methods.
const ObserverEntry& find_observer(const std::string& name);
// "minmax, kl, percentile, ..." for messages and help.
std::string observer_names();

// Weight observers that --weight-range chooses instead of the method's own weight column (and that
// dynamic mode uses; it has no method): one row each.
struct WeightObserverEntry {
  const char* name;     // --weight-range key
  const char* help;     // one line for --help
  ObserverFactory make;
};
const std::vector<WeightObserverEntry>& weight_observer_table();
// The row of `name`; throws UsageError listing the known ones.
const WeightObserverEntry& find_weight_observer(const std::string& name);
std::string weight_observer_names();

}  // namespace ptq::calib
