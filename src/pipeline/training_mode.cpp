// SPDX-License-Identifier: Apache-2.0
// check_training_mode (see stages.h). ptq quantizes what the model computes as ONNX specifies it:
//   - Dropout (opset 12+) whose training_mode input is a constant true and whose ratio (input 1,
//     default 0.5) is not a constant 0 drops random elements: refused, naming the node (the output
//     would differ on every run, in ptq's executor and in ONNX Runtime alike). training_mode false or
//     absent, or ratio 0: the identity, mask all true (ONNX's inference semantics; kept in the output).
//   - BatchNormalization with training_mode = 1 (opset 14+) normalizes with each batch's own mean and
//     variance and returns the updated running statistics: kept, calibrated so (ONNX Runtime runs it
//     the same way), with a warning, since an inference model is usually exported in eval mode.
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {
namespace {

// The constant value of input i as a double, or false when it is absent or not a constant scalar.
bool constant_scalar(const Graph& graph, const Node& node, size_t i, double& value) {
  const Tensor* t = node.has_input(i) ? graph.weight(node.input(i)) : nullptr;
  if (!t || t->numel() != 1) return false;
  value = cast_tensor(*t, DType::Float64).data<double>()[0];
  return true;
}

}  // namespace

void check_training_mode(const QuantizeJob& job, const Graph& graph) {
  for (const Node& node : graph.nodes) {
    if (!node.domain.empty()) continue;
    double training = 0.0, ratio = 0.5;
    if (node.op_type == "Dropout" && node.opset >= 12 && constant_scalar(graph, node, 2, training) && training != 0.0) {
      const bool known = !node.has_input(1) || constant_scalar(graph, node, 1, ratio);
      if (!known || ratio != 0.0)
        PTQ_FAIL(UnsupportedError, job.model, ": ", node.describe(), ": training_mode is true, so it drops random elements (ratio ",
                 known ? std::to_string(ratio).substr(0, 5) : "computed at run time",
                 "); ptq quantizes inference models: export the model in eval mode or set training_mode to false");
    }
    if (node.op_type == "BatchNormalization" && node.opset >= 14 && node.attr_int("training_mode", 0) != 0)
      log::warn(job.model, ": ", node.describe(), ": training_mode = 1: each batch is normalized with its own mean and ",
                "variance (as ONNX Runtime runs it), not the running statistics; kept so (export in eval mode for inference)");
  }
}

}  // namespace ptq::pipeline
