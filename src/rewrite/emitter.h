// SPDX-License-Identifier: Apache-2.0
// Emitter: writes the quantized GraphProto of one graph for its plan (rewriter.cpp: Q/DQ form;
// integer_format.cpp and integer_lstm.cpp: the dynamic integer form). Node order of the output:
//   1. the graph's Constant nodes (file order),
//   2. quantized weights, biases and constants: initializer + DequantizeLinear (plan order),
//   3. Q/DQ of quantized graph inputs (in a body: and of the enclosing graphs' values it quantizes),
//   4. every node in topological order, each followed by the Q/DQ of its quantized outputs; a node
//      holding bodies (If/Loop/Scan) gets each body written by a nested Emitter for the body's plan.
// Emitters of one model share the name registry (names are unique across bodies) and the parameter
// map (by table key); a body's initializers (quantized weights, scales, zero points) stay in the body.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ptq/ir/data_file_writer.h"
#include "rewrite_internal.h"

namespace ptq::rewrite {

class Emitter {
 public:
  // `source` is the graph's GraphProto (the model's graph after any opset upgrade, or a body),
  // `chain` its scope (chain.graph == the Graph built from `source`). `data_file` (the model's graph
  // only, or nullptr): where its large quantized weights go as they are made (store_weight).
  Emitter(const onnx::GraphProto& source, const ScopeChain& chain, const QuantPlan& plan,
          const std::map<std::string, QParams>& params, const QdqFormat& format, Names& names,
          onnx_io::DataFileWriter* data_file = nullptr);
  // Writes the quantized graph into `out` (a copy of `source` whose nodes are replaced).
  void run(onnx::GraphProto& out);
  bool uses_qdq() const { return uses_qdq_; }
  bool uses_ms_domain() const { return uses_ms_domain_; }
  // Names of weights from enclosing graphs that this graph (or a body in it) now reads quantized:
  // the enclosing graph drops them when nothing reads them any more.
  const std::set<std::string>& replaced_outer() const { return replaced_outer_; }

 private:
  // rewriter.cpp
  void emit_constant_nodes();
  void emit_quantized_constants();
  void emit_graph_inputs();
  void emit_node(int index);
  void emit_bodies(int index, onnx::NodeProto& copy);
  void emit_qdq(const std::string& tensor);
  std::string emit_qdq_pair(const std::string& tensor, const std::string& q_in, const std::string& suffix,
                            const std::string& dq_out);
  std::string reader_name(int node, const std::string& tensor) const;
  std::string output_name(const std::string& tensor) const;
  const std::pair<std::string, std::string>& param_names(const std::string& root);
  const QParams& params_of(const std::string& tensor) const;
  std::string add_initializer(const Tensor& value, const std::string& base);
  // A quantized weight or bias: an initializer too, but written to the data file at once when there is
  // one and the value is large (its memory is then the caller's to release). Parameters (scales, zero
  // points) stay add_initializer's: the target check and the formats read them from the proto.
  std::string store_weight(const Tensor& value, const std::string& base);
  onnx::NodeProto& add_node(const std::string& op, const std::string& name, std::vector<std::string> inputs,
                            std::vector<std::string> outputs, const std::string& domain);
  void remove_unused();
  const TensorPlan* planned(const std::string& tensor) const;
  bool is_activation(const std::string& tensor) const;
  std::string root_of(const std::string& tensor) const;
  const Tensor& weight(const std::string& tensor) const;

  // integer_format.cpp
  void emit_integer_node(int index);
  const std::vector<std::string>& dynamic_quantize(const std::string& x);
  void integer_weight(const std::string& w, IntegerForm form, int rank, std::string& q, std::string& scale,
                      std::string& zero_point);
  // integer_lstm.cpp
  void emit_integer_lstm(int index);

  const onnx::GraphProto& source_;
  const ScopeChain& chain_;
  const Graph& g_;
  const QuantPlan& plan_;
  const std::map<std::string, QParams>& params_;
  const QdqFormat& format_;
  Names& names_;
  onnx_io::DataFileWriter* data_file_;
  onnx::GraphProto* out_ = nullptr;
  bool uses_qdq_ = false;
  bool uses_ms_domain_ = false;
  std::set<std::string> replaced_outer_;
  std::set<std::string> body_replaced_;  // this graph's weights that bodies now read quantized
  std::map<std::string, std::string> dq_output_;        // quantized tensor -> name its readers read
  std::map<std::pair<std::string, int>, std::string> dedicated_dq_;  // (tensor, reader node) -> its own DQ output
  std::map<std::string, std::string> producer_output_;  // quantized graph output T -> T_QuantizeLinear_Input
  std::map<std::string, std::pair<std::string, std::string>> param_names_;  // root -> (scale, zero point)
  std::map<std::string, std::vector<std::string>> dynamic_q_;  // x -> DynamicQuantizeLinear outputs
  std::map<std::string, std::vector<std::string>> integer_weights_;  // weight -> (q, scale, zero point)
};

}  // namespace ptq::rewrite
