// SPDX-License-Identifier: Apache-2.0
// weight_table: quantization parameters of a plan's weight targets taken from the weights themselves,
// for dynamic mode (no calibration data): the weight observer `weight_range` per channel c along the
// target's axis (or on the whole tensor) → range_c → compute_qparams(range_c, spec)
// (calib::calibrate_weights). The default, "minmax", takes range_c = [min_c, max_c]: what ONNX
// Runtime's quantize_dynamic does for weights; "mse" clips where that lowers the squared weight error
// (4-bit weights). Static mode gets weights from the calibrator, whose method may choose other ranges.
#include <cmath>

#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/quantizer.h"
#include "ptq/util/error.h"

namespace ptq::rewrite {

calib::CalibTable weight_table(const Graph& graph, const QuantPlan& plan, const std::string& weight_range) {
  calib::CalibTable table = calib::calibrate_weights(graph, {}, weight_range);
  // One weight at a time, whose pages (when it is a view of mapped external data) are then let go.
  for (const auto& target : calib_targets(plan)) {
    if (!target.is_weight) continue;
    const Tensor* w = find_scoped_weight(graph, target.tensor);
    PTQ_CHECK(w != nullptr);
    const float* x = w->data<float>();
    for (int64_t i = 0; i < w->numel(); ++i)
      if (!std::isfinite(x[i]))
        PTQ_FAIL(ModelError, "weight '", target.tensor, "' holds a non-finite value at index ", i);
    calib::CalibTable one = calib::calibrate_weights(graph, {target}, weight_range);
    table.tensors.insert(one.tensors.begin(), one.tensors.end());
    onnx_io::release_pages(*w);
  }
  return table;
}

}  // namespace ptq::rewrite
