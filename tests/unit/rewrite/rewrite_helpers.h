// SPDX-License-Identifier: Apache-2.0
// Helpers for the rewrite tests: run plan → table → rewrite on a text-syntax model, and inspect the
// result (op counts, nodes, initializers).
#pragma once

#include <map>
#include <string>

#include "ptq/calib/calibrator.h"
#include "ptq/exec/executor.h"
#include "ptq/quant/scale.h"
#include "ptq/rewrite/quantizer.h"
#include "testutil.h"

namespace ptq::test {

struct Quantized {
  onnx::ModelProto model;  // the rewritten model
  Graph graph;             // the float model's graph
  rewrite::QuantPlan plan;
  calib::CalibTable table;
};

// Calibration table for a plan: weights from their values (weight_table), activations from `ranges`
// (tensor -> [lo, hi]; `fallback` for tensors not listed) through compute_qparams.
calib::CalibTable make_table(const Graph& graph, const rewrite::QuantPlan& plan,
                             const std::map<std::string, Range>& ranges = {}, Range fallback = {-1.0f, 1.0f});

Quantized quantize(const onnx::ModelProto& model, const rewrite::QuantOptions& options = {},
                   const std::map<std::string, Range>& ranges = {});

// "QuantizeLinear" -> count; ops of a non-default domain are keyed "domain:op".
std::map<std::string, int> op_counts(const onnx::ModelProto& model);
const onnx::NodeProto* find_node(const onnx::ModelProto& model, const std::string& name);
const onnx::NodeProto* producer_of(const onnx::ModelProto& model, const std::string& tensor);
const onnx::TensorProto* find_initializer(const onnx::ModelProto& model, const std::string& name);
// Initializer value (fails the test when absent).
Tensor initializer_value(const onnx::ModelProto& model, const std::string& name);
int64_t attr_int(const onnx::NodeProto& node, const std::string& name, int64_t fallback);
std::string serialize(const onnx::ModelProto& model);

// The message of the ptq::Error fn throws, or "(no error)".
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// For the channel passes' tests (equalization, splitting): calibration options without progress on one
// thread; a model run by ptq's executor on one thread; the spread max/min of per-channel ranges; the
// minmax 8-bit model of `model` calibrated on `calib`; the cosine of `got`'s output `name` against
// `want`'s, over all `samples` together.
calib::CalibOptions quiet_calib(const std::string& method = "percentile");
exec::TensorMap run_model(const onnx::ModelProto& model, const exec::TensorMap& inputs);
double channel_spread(const std::vector<double>& absmax);
onnx::ModelProto minmax_model(const onnx::ModelProto& model, const rewrite::QuantOptions& options,
                              const std::vector<exec::TensorMap>& calib);
double output_cosine(const onnx::ModelProto& want, const onnx::ModelProto& got, const std::vector<exec::TensorMap>& samples,
                     const std::string& name);

}  // namespace ptq::test
