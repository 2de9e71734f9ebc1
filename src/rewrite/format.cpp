// SPDX-License-Identifier: Apache-2.0
// Which QuantizeLinear/DequantizeLinear the output uses, and its default opset.
//   ONNX-domain Q/DQ exist from opset 10, take `axis` (per-channel) from 13 and 16-bit types from 21.
//   com.microsoft Q/DQ (ONNX Runtime contrib ops) take axis and 8/16-bit types at any opset.
// Decision (as ONNX Runtime's quantizer):
//   opset  = max(model opset, 11 if the model is below 10 (ONNX Runtime fuses Q/DQ into ONNX-domain
//            QLinearConv etc., which do not exist below 10 — it fails to load such a model) or uses
//            the integer format (DynamicQuantizeLinear is opset 11), at least options.opset (13 or 21),
//            21 if a 4-bit type is used (int4/uint4 Q/DQ exist in the ONNX domain from opset 21 only),
//            21 if a weight is blocked (DequantizeLinear's block_size is new in opset 21))
//   domain = "" when opset ≥ 21, or when no 16-bit type is used and (opset ≥ 13 or no DQ is per-channel);
//            "com.microsoft" otherwise (a com.microsoft opset import, version 1, is added).
// IR version: at least the one the opset was released with (opset 21 → IR 10).
#include <algorithm>

#include "rewrite_internal.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/util/log.h"

namespace ptq::rewrite {
namespace {

constexpr char kMsDomain[] = "com.microsoft";

bool is_wide(QType t) { return t == QType::Int16 || t == QType::UInt16; }

// Minimum IR version for a default-domain opset (onnx/helper.py VERSION_TABLE).
int64_t ir_version_for(int64_t opset) {
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  if (opset >= 15) return 8;
  if (opset >= 12) return 7;
  if (opset >= 11) return 6;
  if (opset >= 10) return 5;
  if (opset >= 9) return 4;
  return 3;
}

// True when some planned tensor (bodies included) is 4-bit (4-bit weights) or blocked.
bool uses_opset21_qdq(const QuantPlan& plan) {
  bool found = false;
  plan.for_each_plan([&](const QuantPlan& p) {
    for (const auto& [name, t] : p.tensors) found |= qtype_bits(t.spec.type) == 4 || t.block > 0;
  });
  return found;
}

}  // namespace

QdqFormat choose_format(const onnx::ModelProto& model, const QuantPlan& plan) {
  QdqFormat f;
  f.from_opset = onnx_io::default_opset(model);
  bool wide = false, per_channel_dq = false, integer = false;
  plan.for_each_plan([&](const QuantPlan& p) {
    for (const auto& [name, t] : p.tensors) {
      wide |= is_wide(t.spec.type);
      per_channel_dq |= t.axis >= 0 && !t.integer;
    }
    for (const auto& n : p.nodes) integer |= n.integer != IntegerForm::None;
  });
  f.opset = f.from_opset;
  if (f.opset < 10 || (integer && f.opset < 11)) f.opset = 11;
  if (plan.options.opset > 0) f.opset = std::max<int64_t>(f.opset, plan.options.opset);
  if (uses_opset21_qdq(plan)) f.opset = std::max<int64_t>(f.opset, 21);
  const bool onnx_domain = f.opset >= 21 || (!wide && (f.opset >= 13 || !per_channel_dq));
  f.domain = onnx_domain ? "" : kMsDomain;
  return f;
}

void apply_format(onnx::ModelProto& model, const QdqFormat& format, bool uses_ms_domain) {
  bool has_ms = false;
  for (auto& op : *model.mutable_opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") op.set_version(format.opset);
    has_ms |= op.domain() == kMsDomain;
  }
  if (uses_ms_domain && !has_ms) {
    auto* op = model.add_opset_import();
    op->set_domain(kMsDomain);
    op->set_version(1);
  }
  model.set_ir_version(std::max(model.ir_version(), ir_version_for(format.opset)));
  if (format.opset != format.from_opset)
    log::info("default opset raised from ", format.from_opset, " to ", format.opset,
              format.from_opset < 10 ? " (ONNX Runtime fuses Q/DQ only from opset 10)" : "");
}

}  // namespace ptq::rewrite
