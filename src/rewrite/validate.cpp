// SPDX-License-Identifier: Apache-2.0
// Validation of a rewritten model (a failure is a ptq bug, reported as "internal error").
// Structural checks, always (ONNX 1.12's checker does not know opsets above 17):
//   - every tensor is defined once, before it is read (graph inputs, initializers, node outputs in
//     order), in the model's graph and in every body (If/Loop/Scan), where the enclosing graphs' names
//     defined before the holding node are visible too;
//   - every graph output is produced; every node's domain has an opset import;
//   - every Q/DQ: float32 scale initializer, zero point (omitted only for an int32 DQ) of a type its domain/opset accepts
//     (ONNX < 21: int8/uint8, DequantizeLinear also int32; ONNX ≥ 21 and com.microsoft: + int16/uint16;
//     ONNX ≥ 21 only: + int4/uint4),
//     zero point and scale of equal shapes, per-channel scale length = the quantized tensor's axis size.
// Then onnx::checker::check_model when ONNX 1.12 knows the IR version and every opset (external
// tensors shown to it as empty: it would look for their files in the current folder).
#include <onnx/checker.h>
#include <onnx/defs/schema.h>

#include <map>
#include <set>
#include <vector>

#include "ptq/ir/onnx_io.h"
#include "ptq/util/error.h"
#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

[[noreturn]] void invalid(const std::string& what) {
  PTQ_FAIL(Error, "internal error: the rewritten model is invalid: ", what);
}

bool zero_point_type_ok(int type, const std::string& op, const std::string& domain, int64_t opset) {
  using T = onnx::TensorProto;
  if (type == T::INT8 || type == T::UINT8) return true;
  if (type == T::INT32) return op == "DequantizeLinear";
  if (type == T::INT16 || type == T::UINT16) return !domain.empty() || opset >= 21;
  if (type == static_cast<int>(DType::Int4) || type == static_cast<int>(DType::UInt4)) return domain.empty() && opset >= 21;
  return false;
}

int64_t block_size_of(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.name() == "block_size") return a.i();
  return 0;
}

int64_t axis_of(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.name() == "axis") return a.i();
  return 1;
}

void check_qdq(const onnx::NodeProto& n, const std::map<std::string, const onnx::TensorProto*>& inits, int64_t opset) {
  auto data = inits.find(n.input(0));
  const bool int32_dq = data != inits.end() && data->second->data_type() == onnx::TensorProto::INT32;
  // A blocked DQ of a signed weight may omit its zero point (0, the default of the weight's type).
  const bool blocked_signed = data != inits.end() && n.op_type() == "DequantizeLinear" && block_size_of(n) > 0 &&
                              (data->second->data_type() == onnx::TensorProto::INT8 ||
                               data->second->data_type() == static_cast<int>(DType::Int4));
  if (n.input_size() < 3 && !int32_dq && !blocked_signed) invalid("node '" + n.name() + "' has no zero point");
  auto scale = inits.find(n.input(1));
  if (scale == inits.end()) invalid("node '" + n.name() + "': the scale is not an initializer");
  if (scale->second->data_type() != onnx::TensorProto::FLOAT) invalid("node '" + n.name() + "': scale is not float32");
  if (n.input_size() < 3) return;  // int32 bias, blocked signed weight: zero point 0 by default
  auto zp = inits.find(n.input(2));
  if (zp == inits.end()) invalid("node '" + n.name() + "': the zero point is not an initializer");
  if (!zero_point_type_ok(zp->second->data_type(), n.op_type(), n.domain(), opset))
    invalid("node '" + n.name() + "': zero point type " + std::to_string(zp->second->data_type()) + " not accepted by " +
            (n.domain().empty() ? "ONNX" : n.domain()) + " " + n.op_type() + " at opset " + std::to_string(opset));
  const auto &sd = scale->second->dims(), &zd = zp->second->dims();
  if (sd.size() != zd.size() || !std::equal(sd.begin(), sd.end(), zd.begin()))
    invalid("node '" + n.name() + "': scale and zero point shapes differ");
  if (sd.size() == 1 && sd[0] > 1) {
    if (data == inits.end()) return;  // a per-channel activation is never emitted; weights are initializers
    int64_t axis = axis_of(n), rank = data->second->dims_size();
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || data->second->dims(static_cast<int>(axis)) != sd[0])
      invalid("node '" + n.name() + "': per-channel scale length does not match axis " + std::to_string(axis));
  }
}

struct Visible {
  std::set<std::string> defined;
  std::map<std::string, const onnx::TensorProto*> inits;
};

// One graph (then its bodies, seeing what is defined here before their node).
void check_graph(const onnx::GraphProto& g, const std::set<std::string>& domains, int64_t opset, Visible v) {
  std::set<std::string> own;
  auto define = [&](const std::string& name) {
    if (!own.insert(name).second) invalid("tensor '" + name + "' is defined twice");
    v.defined.insert(name);
  };
  for (const auto& t : g.initializer()) define(t.name()), v.inits[t.name()] = &t;
  for (const auto& in : g.input())
    if (!own.count(in.name())) define(in.name());
  for (const auto& n : g.node()) {
    const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
    if (!domains.count(domain)) invalid("node '" + n.name() + "': no opset import for domain '" + domain + "'");
    for (const auto& i : n.input())
      if (!i.empty() && !v.defined.count(i)) invalid("node '" + n.name() + "' reads '" + i + "' before it is defined");
    if (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear") check_qdq(n, v.inits, opset);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) check_graph(a.g(), domains, opset, v);
      for (const auto& sg : a.graphs()) check_graph(sg, domains, opset, v);
    }
    for (const auto& o : n.output())
      if (!o.empty()) define(o);
  }
  for (const auto& o : g.output())
    if (!v.defined.count(o.name())) invalid("graph output '" + o.name() + "' is not produced");
}

void check_structure(const onnx::ModelProto& model) {
  std::set<std::string> domains;
  for (const auto& op : model.opset_import()) domains.insert(op.domain() == "ai.onnx" ? "" : op.domain());
  check_graph(model.graph(), domains, onnx_io::default_opset(model), Visible{});
}

bool checker_knows(const onnx::ModelProto& model) {
  if (model.ir_version() > onnx::Version::IR_VERSION) return false;
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& op : model.opset_import()) {
    auto it = ranges.find(op.domain() == "ai.onnx" ? "" : op.domain());
    if (it != ranges.end() && op.version() > it->second.second) return false;
  }
  return true;
}

// ONNX 1.12's checker looks for the files of external tensors relative to the current folder (a model
// in memory has no folder), so a model whose weights stay in external data would fail wherever ptq runs
// from another folder. While it lives, this shows each external tensor to the checker as an empty inline
// one (dims {0}, no data); the destructor puts back dims, location and references.
class ExternalTensorsHidden {
 public:
  explicit ExternalTensorsHidden(onnx::ModelProto& model) {
    onnx_io::for_each_tensor(*model.mutable_graph(), [&](onnx::TensorProto& t) {
      if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
      Hidden h{&t, {t.dims().begin(), t.dims().end()}, {}};
      h.references.Swap(t.mutable_external_data());
      t.clear_dims();
      t.add_dims(0);
      t.set_data_location(onnx::TensorProto::DEFAULT);
      hidden_.push_back(std::move(h));
    });
  }
  ~ExternalTensorsHidden() {
    for (auto& h : hidden_) {
      h.tensor->clear_dims();
      for (int64_t d : h.dims) h.tensor->add_dims(d);
      h.tensor->mutable_external_data()->Swap(&h.references);
      h.tensor->set_data_location(onnx::TensorProto::EXTERNAL);
    }
  }
  ExternalTensorsHidden(const ExternalTensorsHidden&) = delete;
  ExternalTensorsHidden& operator=(const ExternalTensorsHidden&) = delete;

 private:
  struct Hidden {
    onnx::TensorProto* tensor;
    std::vector<int64_t> dims;
    google::protobuf::RepeatedPtrField<onnx::StringStringEntryProto> references;
  };
  std::vector<Hidden> hidden_;
};

}  // namespace

void validate_quantized_model(onnx::ModelProto& model) {
  check_structure(model);
  if (!checker_knows(model)) return;
  ExternalTensorsHidden hidden(model);
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    invalid(std::string("ONNX checker: ") + e.what());
  }
}

}  // namespace ptq::rewrite
