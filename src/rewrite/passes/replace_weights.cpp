// SPDX-License-Identifier: Apache-2.0
// replace_weights: new values for weights of the top-level graph, keeping their names (so calibration
// tables keyed by name still apply), dtypes and shapes. What a data-driven weight transform (AdaRound)
// writes back into the model before the rewrite.
//   initializer  →  the same initializer with the new data (inline; load_model resolved external data,
//                   save_model moves large tensors out again)
//   Constant     →  the same node with one `value` attribute holding the new data
// Throws Error naming the tensor when it is not such a weight or its shape or dtype differ.
#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "ptq/util/error.h"

namespace ptq::rewrite {
namespace {

void check_same(const Tensor& old_value, const Tensor& value, const std::string& name) {
  if (old_value.dtype() != value.dtype() || old_value.shape() != value.shape())
    PTQ_FAIL(Error, "replace_weights: '", name, "' is ", dtype_name(old_value.dtype()), " ",
             shape_str(old_value.shape()), ", the new value ", dtype_name(value.dtype()), " ",
             shape_str(value.shape()));
}

}  // namespace

PassResult replace_weights(const onnx::ModelProto& model, const std::map<std::string, Tensor>& weights) {
  PassResult r{model, 0};
  onnx::GraphProto& gp = *r.model.mutable_graph();
  for (const auto& [name, value] : weights) {
    bool found = false;
    for (onnx::TensorProto& t : *gp.mutable_initializer()) {
      if (t.name() != name) continue;
      check_same(onnx_io::tensor_from_proto(t), value, name);
      t = onnx_io::tensor_to_proto(value, name);
      found = true;
      break;
    }
    for (int i = 0; !found && i < gp.node_size(); ++i) {
      onnx::NodeProto& n = *gp.mutable_node(i);
      if (n.op_type() != "Constant" || n.output_size() != 1 || n.output(0) != name) continue;
      check_same(constant_node_value(n), value, name);
      n.clear_attribute();
      onnx::AttributeProto& a = *n.add_attribute();
      a.set_name("value");
      a.set_type(onnx::AttributeProto::TENSOR);
      *a.mutable_t() = onnx_io::tensor_to_proto(value, name);
      found = true;
    }
    if (!found) PTQ_FAIL(Error, "replace_weights: '", name, "' is not an initializer or Constant of the main graph");
    ++r.changed;
  }
  return r;
}

}  // namespace ptq::rewrite
