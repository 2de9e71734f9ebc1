// SPDX-License-Identifier: Apache-2.0
// weight_table: quantization parameters of a plan's weight targets taken from the weights themselves,
// for dynamic mode (no calibration data): the weight observer `weight_range` per channel c along the
// target's axis (or on the whole tensor) → range_c → compute_qparams(range_c, spec)
// (calib::calibrate_weights). The default, "minmax", takes range_c = [min_c, max_c]: what ONNX
// Runtime's quantize_dynamic does for weights; "mse" clips where that lowers the squared weight error
// (4-bit weights). A non-finite weight is refused by the observer (ModelError). Static mode gets weights
// from the calibrator, whose method may choose other ranges.

#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/quantizer.h"
#include "ptq/util/error.h"
#include "ptq/util/parallel.h"

namespace ptq::rewrite {

calib::CalibTable weight_table(const Graph& graph, const QuantPlan& plan, const std::string& weight_range, int threads) {
  calib::CalibTable table = calib::calibrate_weights(graph, {}, weight_range);
  std::vector<calib::CalibTarget> weights;
  for (const auto& target : calib_targets(plan))
    if (target.is_weight) weights.push_back(target);
  // One weight a task, whose pages (when it is a view of mapped external data) are then let go.
  std::vector<calib::CalibTable> tables(weights.size());
  run_tasks(threads, weights.size(), [&](size_t i) {
    const calib::CalibTarget& target = weights[i];
    const Tensor* w = find_scoped_weight(graph, target.tensor);
    PTQ_CHECK(w != nullptr);
    tables[i] = calib::calibrate_weights(graph, {target}, weight_range);
    onnx_io::release_pages(*w);
  });
  for (auto& one : tables) table.tensors.insert(one.tensors.begin(), one.tensors.end());
  return table;
}

}  // namespace ptq::rewrite
