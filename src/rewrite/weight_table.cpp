// SPDX-License-Identifier: Apache-2.0
// weight_table: quantization parameters of a plan's weight targets taken from the weights themselves,
// for dynamic mode (no calibration data). Per channel c along the target's axis (or the whole tensor):
//   range_c = [min_c, max_c] of the weight values → compute_qparams(range_c, spec)   (method "minmax")
// This is what ONNX Runtime's quantize_dynamic does for weights; static mode gets weights from the
// calibrator, whose method may choose other ranges.
#include <algorithm>
#include <cmath>

#include "ptq/quant/scale.h"
#include "ptq/rewrite/quantizer.h"
#include "ptq/util/error.h"

namespace ptq::rewrite {
namespace {

calib::TensorCalib weight_calib(const std::string& name, const Tensor& w, const QuantSpec& spec, int axis) {
  int64_t channels = axis >= 0 ? w.dim(axis) : 1, inner = 1;
  for (int d = axis + 1; axis >= 0 && d < w.rank(); ++d) inner *= w.dim(d);
  calib::TensorCalib c;
  c.tensor = name;
  c.method = "minmax";
  c.min.assign(static_cast<size_t>(channels), 0.0f);
  c.max.assign(static_cast<size_t>(channels), 0.0f);
  std::vector<bool> seen(static_cast<size_t>(channels), false);
  const float* p = w.data<float>();
  for (int64_t i = 0; i < w.numel(); ++i) {
    size_t ch = static_cast<size_t>(axis >= 0 ? (i / inner) % channels : 0);
    if (!seen[ch]) c.min[ch] = c.max[ch] = p[i], seen[ch] = true;
    c.min[ch] = std::min(c.min[ch], p[i]);
    c.max[ch] = std::max(c.max[ch], p[i]);
  }
  for (size_t ch = 0; ch < c.min.size(); ++ch) c.range.push_back({c.min[ch], c.max[ch]});
  c.qparams = axis >= 0 ? compute_qparams(c.range, spec, axis) : compute_qparams(c.range[0], spec);
  return c;
}

}  // namespace

calib::CalibTable weight_table(const Graph& graph, const QuantPlan& plan) {
  calib::CalibTable table;
  table.method = "minmax";
  for (const auto& target : calib_targets(plan)) {
    if (!target.is_weight) continue;
    const Tensor* w = graph.weight(target.tensor);
    PTQ_CHECK(w != nullptr);
    for (int64_t i = 0; i < w->numel(); ++i)
      if (!std::isfinite(w->data<float>()[i]))
        PTQ_FAIL(ModelError, "weight '", target.tensor, "' holds a non-finite value at index ", i);
    table.tensors[target.tensor] = weight_calib(target.tensor, *w, target.spec, target.axis);
  }
  return table;
}

}  // namespace ptq::rewrite
