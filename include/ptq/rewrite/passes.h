// SPDX-License-Identifier: Apache-2.0
// Float-to-float graph passes run before planning (the part of ONNX Runtime's quant_pre_process that
// matters for quantization): they remove ops that would otherwise sit between a quantized op and its
// Q/DQ and block ONNX Runtime's integer fusions. Call them on the model before build_graph/plan, so
// calibration observes the simplified graph.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstddef>

namespace ptq::rewrite {

struct PassResult {
  onnx::ModelProto model;
  size_t changed = 0;  // patterns rewritten
};

// fold_batch_norm: Conv/ConvTranspose → BatchNormalization (inference mode) becomes one Conv with
// folded weights; see src/rewrite/passes/fold_batch_norm.cpp for the conditions and the formula.
PassResult fold_batch_norm(const onnx::ModelProto& model);

}  // namespace ptq::rewrite
