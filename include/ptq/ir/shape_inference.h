// SPDX-License-Identifier: Apache-2.0
// ONNX shape inference, in place: adds value_info for the tensors it can type (never nodes or
// attributes). Graph outputs keep their declared types (ONNX 1.12 only checks them against inference).
#pragma once

#include <onnx/onnx_pb.h>

namespace ptq {

void infer_shapes(onnx::ModelProto& model);

}  // namespace ptq
