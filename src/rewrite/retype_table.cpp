// SPDX-License-Identifier: Apache-2.0
// retype_table: a calibration table made for one plan, fitted to another that quantizes some tensors
// with other types (the precision search's 16-bit layers). An entry whose parameters have a type other
// than its planned spec gets new parameters from its observed range:
//   range_c = [min_c, max_c] (per channel or per block for weights) → compute_qparams(range_c, planned spec), method
//   "minmax" (ONNX Runtime's practice for 16 bits: 65536 levels leave nothing to gain from clipping).
// Entries already in their planned type, and entries the plan does not use, are kept as they are.
#include "ptq/quant/scale.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::rewrite {

calib::CalibTable retype_table(const calib::CalibTable& table, const QuantPlan& plan) {
  calib::CalibTable out = table;
  for (const auto& [name, t] : plan.tensors) {
    if (t.kind == TensorPlan::Kind::Bias || !t.params_from.empty()) continue;
    auto it = out.tensors.find(name);
    if (it == out.tensors.end() || it->second.qparams.type == t.spec.type || it->second.min.empty()) continue;
    calib::TensorCalib& c = it->second;
    c.range.clear();
    for (size_t ch = 0; ch < c.min.size(); ++ch) c.range.push_back(Range{c.min[ch], c.max[ch]});
    const QParams old = c.qparams;
    c.qparams = t.axis >= 0 ? compute_qparams(c.range, t.spec, t.axis) : compute_qparams(c.range[0], t.spec);
    c.qparams.block = old.block;  // blocked: min/max were observed per block
    c.qparams.scale_shape = old.scale_shape;
    c.method = "minmax";
  }
  return out;
}

}  // namespace ptq::rewrite
