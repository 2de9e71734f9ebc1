// SPDX-License-Identifier: Apache-2.0
// Emitter: writes the quantized GraphProto for a plan (rewriter.cpp: Q/DQ form; integer_format.cpp:
// the dynamic integer form). Node order of the output:
//   1. the model's Constant nodes (file order),
//   2. quantized weights, biases and constants: initializer + DequantizeLinear (plan order),
//   3. Q/DQ of quantized graph inputs,
//   4. every node in topological order, each followed by the Q/DQ of its quantized outputs.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "rewrite_internal.h"

namespace ptq::rewrite {

class Emitter {
 public:
  Emitter(const onnx::ModelProto& model, const Graph& graph, const QuantPlan& plan,
          std::map<std::string, QParams> params, QdqFormat format);
  onnx::ModelProto run();
  bool uses_qdq() const { return uses_qdq_; }

 private:
  // rewriter.cpp
  void emit_constant_nodes();
  void emit_quantized_constants();
  void emit_graph_inputs();
  void emit_node(int index);
  void emit_qdq(const std::string& tensor);
  std::string emit_qdq_pair(const std::string& tensor, const std::string& q_in, const std::string& suffix,
                            const std::string& dq_out);
  std::string reader_name(int node, const std::string& tensor) const;
  std::string output_name(const std::string& tensor) const;
  const std::pair<std::string, std::string>& param_names(const std::string& root);
  std::string add_initializer(const Tensor& value, const std::string& base);
  onnx::NodeProto& add_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                            std::vector<std::string> outputs, const std::string& domain);
  void remove_unused();
  const TensorPlan* planned(const std::string& tensor) const;
  bool is_activation(const std::string& tensor) const;
  std::string root_of(const std::string& tensor) const;

  // integer_format.cpp
  void emit_integer_node(int index);
  const std::vector<std::string>& dynamic_quantize(const std::string& x);
  void integer_weight(const std::string& w, IntegerForm form, int rank, std::string& q, std::string& scale,
                      std::string& zero_point);

  const onnx::ModelProto& model_;
  const Graph& g_;
  const QuantPlan& plan_;
  std::map<std::string, QParams> params_;
  QdqFormat format_;
  onnx::ModelProto out_;
  Names names_;
  bool uses_qdq_ = false;
  std::map<std::string, std::string> dq_output_;        // quantized tensor -> name its readers read
  std::map<std::pair<std::string, int>, std::string> dedicated_dq_;  // (tensor, reader node) -> its own DQ output
  std::map<std::string, std::string> producer_output_;  // quantized graph output T -> T_QuantizeLinear_Input
  std::map<std::string, std::pair<std::string, std::string>> param_names_;  // root -> (scale, zero point)
  std::map<std::string, std::vector<std::string>> dynamic_q_;  // x -> DynamicQuantizeLinear outputs
  std::map<std::string, std::vector<std::string>> integer_weights_;  // weight -> (q, scale, zero point)
};

}  // namespace ptq::rewrite
