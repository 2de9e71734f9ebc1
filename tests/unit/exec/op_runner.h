// SPDX-License-Identifier: Apache-2.0
// Test helpers for kernel tests: run one ONNX node (written in ONNX text syntax) through the Executor
// on given tensors, and compare results with a reference computed by naive loops in the test.
#pragma once

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ptq/exec/executor.h"
#include "testutil.h"

namespace ptq::test {

struct OpCase {
  std::string node;  // e.g. "y = Conv <group = 2> (x, w, b)"
  std::vector<std::pair<std::string, Tensor>> inputs;        // graph inputs, in order
  std::vector<std::pair<std::string, Tensor>> initializers;  // constant weights
  std::vector<std::pair<std::string, DType>> outputs;        // graph outputs
  std::string opsets = "\"\" : 13";                          // opset_import entries
};

// ONNX text-syntax type name: ptq's dtype names except float32 -> float, float64 -> double.
inline std::string text_type(DType t) {
  if (t == DType::Float32) return "float";
  if (t == DType::Float64) return "double";
  return dtype_name(t);
}

inline std::string text_decl(const std::string& name, const Tensor& t) {
  std::string s = text_type(t.dtype()) + "[";
  for (size_t i = 0; i < t.shape().size(); ++i) s += (i ? "," : "") + std::to_string(t.shape()[i]);
  return s + "] " + name;
}

inline std::string model_text(const OpCase& c) {
  std::string text = "<ir_version: 8, opset_import: [" + c.opsets + "]>\ng (";
  for (size_t i = 0; i < c.inputs.size(); ++i) text += (i ? ", " : "") + text_decl(c.inputs[i].first, c.inputs[i].second);
  text += ") => (";
  for (size_t i = 0; i < c.outputs.size(); ++i) text += (i ? ", " : "") + text_type(c.outputs[i].second) + " " + c.outputs[i].first;
  return text + ") {\n  " + c.node + "\n}\n";
}

inline Graph op_graph(const OpCase& c) {
  onnx::ModelProto model = parse_text_model(model_text(c));
  for (const auto& kv : c.initializers) add_initializer(model, kv.first, kv.second);
  return build_graph(model, GraphOptions{false, {}});
}

// Runs the node with `threads` threads; returns the outputs in OpCase::outputs order.
inline std::vector<Tensor> run_op(const OpCase& c, int threads = 1) {
  Graph g = op_graph(c);
  exec::Executor ex(g, exec::ExecOptions{threads, false});
  exec::TensorMap in;
  for (const auto& kv : c.inputs) in[kv.first] = kv.second;
  exec::TensorMap out = ex.run(in);
  std::vector<Tensor> result;
  for (const auto& o : c.outputs) result.push_back(out.at(o.first));
  return result;
}

// |a - b| <= eps, or relative difference below eps (ncnn's NearlyEqual).
inline bool nearly_equal(float a, float b, float eps) {
  if (a == b) return true;
  const float diff = std::fabs(a - b);
  return diff <= eps || diff < eps * std::max(std::fabs(a), std::fabs(b));
}

inline void expect_near_all(const Tensor& got, const std::vector<float>& want, float eps, const std::string& what) {
  ASSERT_EQ(got.dtype(), DType::Float32) << what;
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size())) << what << ": got shape " << shape_str(got.shape());
  const float* g = got.data<float>();
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < want.size(); ++i)
    if (!nearly_equal(g[i], want[i], eps)) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++bad;
    }
  EXPECT_EQ(bad, 0) << what << ": first mismatch at flat index " << first << ": got " << (first >= 0 ? g[first] : 0.0f)
                    << ", expected " << (first >= 0 ? want[static_cast<size_t>(first)] : 0.0f);
}

inline void expect_same_bits(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << what << ": results differ bitwise";
}

template <class T>
Tensor tensor_of(const std::vector<T>& v, Shape shape) {
  return Tensor::from_vector<T>(v, std::move(shape));
}

inline std::string ints_attr(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace ptq::test
