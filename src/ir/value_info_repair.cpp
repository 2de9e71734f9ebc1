// SPDX-License-Identifier: Apache-2.0
// repair_value_info and apply_observed_shapes (see value_info_repair.h).
#include "ptq/ir/value_info_repair.h"

#include <onnx/defs/schema.h>

#include <set>

#include "ptq/ir/graph.h"
#include "ptq/ir/shape_inference.h"

namespace ptq {
namespace {

using VI = onnx::ValueInfoProto;

// Initializers larger than this go to shape inference without their data (dims and type only): inference
// reads the values of small tensors only (Reshape shapes, Slice bounds, ...).
constexpr size_t kInferenceDataBytes = 64 * 1024;

// Tensor types and entries with no type at all (to be filled); sequences, maps and optionals are left alone.
bool is_tensor_entry(const VI& v) { return v.type().has_tensor_type() || v.type().value_case() == onnx::TypeProto::VALUE_NOT_SET; }

bool has_value(const onnx::TensorShapeProto_Dimension& d) { return d.has_dim_value(); }
bool is_known(const onnx::TensorShapeProto_Dimension& d) { return d.has_dim_value() || !d.dim_param().empty(); }

bool contradicts(const VI& declared, const VI& actual) {
  const auto &a = declared.type().tensor_type(), &b = actual.type().tensor_type();
  if (a.elem_type() != 0 && b.elem_type() != 0 && a.elem_type() != b.elem_type()) return true;
  if (!a.has_shape() || !b.has_shape()) return false;
  if (a.shape().dim_size() != b.shape().dim_size()) return true;
  for (int i = 0; i < a.shape().dim_size(); ++i) {
    const auto &x = a.shape().dim(i), &y = b.shape().dim(i);
    if (has_value(x) && has_value(y) && x.dim_value() != y.dim_value()) return true;
  }
  return false;
}

// `actual` completed with what `declared` knows and `actual` does not (they agree).
VI merged(const VI& declared, const VI& actual) {
  VI out = declared;
  auto& t = *out.mutable_type()->mutable_tensor_type();
  const auto &a = declared.type().tensor_type(), &b = actual.type().tensor_type();
  if (b.elem_type() != 0) t.set_elem_type(b.elem_type());
  if (!b.has_shape()) return out;
  if (!a.has_shape()) {
    *t.mutable_shape() = b.shape();
    return out;
  }
  for (int i = 0; i < b.shape().dim_size(); ++i) {  // a number, or a name for an unknown dim (declared names stay)
    const auto& d = b.shape().dim(i);
    if (has_value(d) || (is_known(d) && !is_known(a.shape().dim(i)))) *t.mutable_shape()->mutable_dim(i) = d;
  }
  return out;
}

bool typed(const VI& v) {
  return v.type().has_tensor_type() && v.type().tensor_type().elem_type() != 0 && v.type().tensor_type().has_shape();
}

std::string describe(const VI& v) {
  const ValueInfo info = value_info_from_proto(v);
  return (info.dtype == DType::Undefined ? std::string("untyped") : dtype_name(info.dtype)) + " " + info.shape_str();
}

std::string note(const VI& declared, const VI& actual, const char* source) {
  return "value_info of '" + declared.name() + "' says " + describe(declared) + ", " + source + " gives " + describe(actual) +
         ": written as the latter";
}

// The model for shape inference: nodes, inputs and initializers (large ones without their data); no
// value_info and no graph outputs, so inference types every node output (ONNX 1.12 writes nothing for
// graph outputs) and is not thrown off by a wrong declaration.
onnx::ModelProto inference_copy(const onnx::ModelProto& model) {
  onnx::ModelProto copy;
  copy.set_ir_version(model.ir_version());
  *copy.mutable_opset_import() = model.opset_import();
  *copy.mutable_functions() = model.functions();
  const onnx::GraphProto& g = model.graph();
  onnx::GraphProto& cg = *copy.mutable_graph();
  *cg.mutable_input() = g.input();
  *cg.mutable_node() = g.node();
  *cg.mutable_sparse_initializer() = g.sparse_initializer();
  for (const auto& t : g.initializer()) {
    onnx::TensorProto* c = cg.add_initializer();
    if (t.ByteSizeLong() <= kInferenceDataBytes) {
      *c = t;
      continue;
    }
    c->set_name(t.name());
    c->set_data_type(t.data_type());
    *c->mutable_dims() = t.dims();
  }
  return copy;
}

// ONNX 1.12's schemas cover every opset the model imports.
bool inference_knows(const onnx::ModelProto& model) {
  const auto& ranges = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  for (const auto& op : model.opset_import()) {
    auto it = ranges.find(op.domain() == "ai.onnx" ? "" : op.domain());
    if (it != ranges.end() && op.version() > it->second.second) return false;
  }
  return true;
}

std::set<std::string> node_outputs(const onnx::GraphProto& g) {
  std::set<std::string> out;
  for (const auto& n : g.node())
    for (const auto& o : n.output())
      if (!o.empty()) out.insert(o);
  return out;
}

// Calls fn on every value_info entry and graph output of the model's graph that names a node output.
template <class Fn>
void for_each_entry(onnx::GraphProto& g, Fn fn) {
  const std::set<std::string> produced = node_outputs(g);
  for (auto* list : {g.mutable_value_info(), g.mutable_output()})
    for (auto& v : *list)
      if (produced.count(v.name()) && is_tensor_entry(v)) fn(v);
}

bool static_inputs(const onnx::GraphProto& g) {
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  for (const auto& in : g.input()) {
    if (inits.count(in.name())) continue;
    if (!in.type().tensor_type().has_shape()) return false;
    for (const auto& d : in.type().tensor_type().shape().dim())
      if (!d.has_dim_value()) return false;
  }
  return true;
}

// The entry an observation makes of `declared` (see the header for which dims are written).
VI observed_entry(const VI& declared, const ObservedShape& seen, bool exact) {
  VI v;
  v.set_name(declared.name());
  auto& t = *v.mutable_type()->mutable_tensor_type();
  t.set_elem_type(static_cast<int>(seen.dtype));
  auto& shape = *t.mutable_shape();
  const auto& d = declared.type().tensor_type();
  const bool same_rank = d.has_shape() && d.shape().dim_size() == static_cast<int>(seen.shape.size());
  for (size_t i = 0; i < seen.shape.size(); ++i) {
    auto* dim = shape.add_dim();
    const auto* given = same_rank ? &d.shape().dim(static_cast<int>(i)) : nullptr;
    if (given && !given->dim_param().empty()) dim->set_dim_param(given->dim_param());  // may vary with the data
    else if (exact || (given && given->has_dim_value() && given->dim_value() == seen.shape[i])) dim->set_dim_value(seen.shape[i]);
  }
  return v;
}

}  // namespace

ValueInfoRepair repair_value_info(onnx::ModelProto& model) {
  onnx::ModelProto copy = inference_copy(model);
  infer_shapes(copy);
  std::map<std::string, const VI*> inferred;
  for (const auto& v : copy.graph().value_info())
    if (v.type().has_tensor_type() && v.type().tensor_type().elem_type() != 0) inferred[v.name()] = &v;
  ValueInfoRepair r;
  r.inference_trusted = inference_knows(model);
  for_each_entry(*model.mutable_graph(), [&](VI& declared) {
    auto it = inferred.find(declared.name());
    if (it == inferred.end() || !r.inference_trusted) {
      r.unverified.push_back(declared.name());
      return;
    }
    if (contradicts(declared, *it->second)) {
      r.notes.push_back(note(declared, *it->second, "shape inference"));
      *declared.mutable_type() = it->second->type();
      return;
    }
    declared = merged(declared, *it->second);
  });
  std::set<std::string> listed(r.unverified.begin(), r.unverified.end());
  for (const auto& o : model.graph().output())
    if (is_tensor_entry(o) && !typed(o) && listed.insert(o.name()).second) r.unverified.push_back(o.name());
  return r;
}

std::vector<std::string> apply_observed_shapes(onnx::ModelProto& model, const std::map<std::string, ObservedShape>& observed) {
  const bool exact = static_inputs(model.graph());
  std::vector<std::string> notes;
  std::set<std::string> written;
  for_each_entry(*model.mutable_graph(), [&](VI& declared) {
    auto it = observed.find(declared.name());
    if (it == observed.end()) return;
    written.insert(declared.name());
    const VI seen = observed_entry(declared, it->second, true);
    if (contradicts(declared, seen)) {
      notes.push_back(note(declared, seen, "a run of the model"));
      declared = observed_entry(VI(), it->second, exact);
      declared.set_name(seen.name());
      return;
    }
    declared = merged(declared, observed_entry(declared, it->second, exact));
  });
  const std::set<std::string> produced = node_outputs(model.graph());
  for (const auto& [name, seen] : observed)  // node outputs the model declares nothing for
    if (produced.count(name) && !written.count(name)) {
      VI v;
      v.set_name(name);
      *model.mutable_graph()->add_value_info() = observed_entry(v, seen, exact);
    }
  return notes;
}

bool outputs_typed(const onnx::ModelProto& model, std::string* first_untyped) {
  for (const auto& o : model.graph().output()) {
    if (!is_tensor_entry(o) || typed(o)) continue;
    if (first_untyped) *first_untyped = o.name();
    return false;
  }
  return true;
}

}  // namespace ptq
