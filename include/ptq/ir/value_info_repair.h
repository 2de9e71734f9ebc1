// SPDX-License-Identifier: Apache-2.0
// Repairing a model's declared types and shapes (its graph outputs and value_info) in place, so that
// what ptq reads and writes agrees with what the model computes. Graph inputs are taken as declared.
//   repair_value_info: ONNX shape inference runs with the model's value_info and output types set aside;
//     - a declared entry that contradicts the inferred one (element type, rank, or a dimension both give
//       as a number) is replaced by the inferred one; one note each;
//     - an agreeing entry gets what inference adds (a type, a shape, a number for a dim, a name for a
//       dim it leaves unknown; its own dim names stay); a graph output without a type or shape gets
//       the inferred one;
//     - an entry inference cannot check (outputs of custom-domain ops, of nodes after an inference
//       error) is kept and listed as unverified, as is a graph output still without a type or shape;
//     - when the model imports an opset newer than ONNX 1.12 knows, its older schemas may mis-type the
//       newer ops (ReduceMean-18 read as ReduceMean-13 reduces every axis): inference is not used and
//       every entry is unverified.
//   apply_observed_shapes: settles entries with what a run of the model produced (the executor on a
//     sample): a contradicting entry is replaced, a missing type or shape filled in, and a node output
//     with no entry gets one. A dim the entry names stays named (it may vary with the data); the others
//     are written as the observed numbers when every graph input has static dims, otherwise unknown
//     (they may follow the sample's size) unless the entry declares that same number.
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <string>
#include <vector>

#include "ptq/ir/tensor.h"

namespace ptq {

struct ValueInfoRepair {
  std::vector<std::string> notes;       // one line per contradicting entry replaced
  std::vector<std::string> unverified;  // tensors (node outputs of the model's graph) left to a run
  bool inference_trusted = true;        // false: an opset newer than ONNX 1.12's (ONNX's checker skips it too)
};

ValueInfoRepair repair_value_info(onnx::ModelProto& model);

struct ObservedShape {
  DType dtype = DType::Undefined;
  Shape shape;
};

// Returns one note per contradicting entry replaced.
std::vector<std::string> apply_observed_shapes(onnx::ModelProto& model, const std::map<std::string, ObservedShape>& observed);

// True when every graph output of the model has an element type and a shape (ONNX's checker requires it).
bool outputs_typed(const onnx::ModelProto& model, std::string* first_untyped = nullptr);

}  // namespace ptq
