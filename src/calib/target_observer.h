// SPDX-License-Identifier: Apache-2.0
// TargetObserver: the observation of one calibration target. It converts the tensor to float32,
// rejects NaN/Inf (DataError naming the tensor), keeps the observed min/max, and feeds one observer
// per channel (per-channel targets: slices along the axis), one per block (blocked targets) or one for
// the whole tensor. finish()
// turns the observers' ranges into QParams with compute_qparams.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ptq/calib/calibrator.h"
#include "ptq/calib/observer.h"

namespace ptq::calib {

class TargetObserver {
 public:
  TargetObserver(CalibTarget target, ObserverFactory make, const ObserverConfig& config);
  const CalibTarget& target() const { return target_; }
  // Whether the observer's result is independent of the order of the samples (Observer::order_independent).
  bool order_independent() const { return order_independent_; }
  // Observes one tensor of one sample.
  void observe(const Tensor& value);
  bool seen() const { return seen_; }
  TensorCalib finish(const std::string& method) const;

 private:
  void create_channels(const Tensor& value);
  void observe_gathered(const Tensor& t, int64_t outer, int64_t inner);
  void observe_run(size_t c, const float* run, size_t n, const Tensor& t);
  void observe_columns(const Tensor& t, int64_t outer);
  void add_extremes(size_t c, size_t n, float lo, float hi, const float* run);
  void observe_blocks(const Tensor& value);

  CalibTarget target_;
  ObserverFactory make_;
  ObserverConfig config_;
  bool order_independent_ = true;
  bool extremes_only_ = false;  // the observer needs only each call's min and max (Observer::extremes_only)
  bool seen_ = false;
  std::vector<std::unique_ptr<Observer>> channels_;
  std::vector<float> min_, max_;
  std::vector<float> scratch_;  // a group of channels' values, gathered
  Shape shape_;                 // per-channel and blocked targets: the tensor's shape
};

// A Softmax input as its observer sees it: each row clamped to its top kSoftmaxWindow, fully masked rows
// left out, flattened (softmax_rows.cpp).
Tensor top_of_softmax_rows(const Tensor& x, const SoftmaxRows& rows);

}  // namespace ptq::calib
