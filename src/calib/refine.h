// SPDX-License-Identifier: Apache-2.0
// What a method's refinement step (ObserverEntry::refine, e.g. eq) gets after observation: the model,
// an executor bound to it, the targets, the data, the options, and the table to improve in place.
#pragma once

#include <vector>

#include "ptq/calib/calibrator.h"
#include "ptq/calib/observer.h"
#include "ptq/exec/executor.h"

namespace ptq::calib {

struct RefineContext {
  const Graph& graph;
  const exec::Executor& executor;
  const std::vector<CalibTarget>& targets;
  const DataReader& data;
  const CalibOptions& options;
  CalibTable& table;
};

}  // namespace ptq::calib
