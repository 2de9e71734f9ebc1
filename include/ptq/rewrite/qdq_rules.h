// SPDX-License-Identifier: Apache-2.0
// The Q/DQ rule table: one row per quantizable op type, pointing at the rule of its family
// (src/rewrite/rules/*.cpp). A rule looks at one node and returns decisions — which inputs are
// activations, weights (with their per-channel axis) or biases, and whether each output gets its own
// quantization parameters or reuses an input's — never edits the graph. Ops without a row stay float.
#pragma once

#include <string>
#include <vector>

#include "ptq/calib/calibrator.h"
#include "ptq/ir/data_flow.h"
#include "ptq/ir/graph.h"
#include "ptq/quant/qspec.h"

namespace ptq::rewrite {

struct QuantOptions;

// How a rule wants one input quantized.
enum class InputUse {
  Activation,  // Q→DQ pair with calibrated parameters (a constant in this slot: per-tensor, activation type)
  Weight,      // quantized initializer + one DQ, weight type, per-channel along `axis` when enabled
  Bias,        // int32, scale = s(bias_input) · s(bias_weight) per channel, zero point 0, only a DQ
};

struct InputDecision {
  size_t index = 0;
  InputUse use = InputUse::Activation;
  int axis = -1;          // Weight: per-channel axis (-1: always per-tensor)
  size_t bias_input = 0;  // Bias: the node inputs whose scales multiply
  size_t bias_weight = 1;
  // Activation read by a Softmax: its range is calibrated on the values near their row's maximum
  // (calib::SoftmaxRows).
  calib::SoftmaxRows softmax;
  int block_axis = -1;  // Weight: the axis blocks run along when options.block_size > 0 (-1: never blocked)
};

enum class OutputUse {
  Own,          // own calibrated parameters
  SameAsInput,  // reuses input `input`'s scale and zero point (data movement), if that input is quantized
};

struct OutputDecision {
  size_t index = 0;
  OutputUse use = OutputUse::Own;
  size_t input = 0;
  // Own only: the op's output range is known (Softmax: [0, 1]); its parameters come from this range
  // instead of calibration, as ONNX Runtime's QDQSoftmax fixes them.
  bool fixed = false;
  Range range;
};

// Dynamic "integer" format: the node becomes DynamicQuantizeLinear + an integer kernel + a float rescale
// (ConvInteger, MatMulInteger: weight input 1), or ONNX Runtime's com.microsoft DynamicQuantizeLSTM
// (LSTM: W and R, inputs 1 and 2, int8 with their scales as inputs).
enum class IntegerForm { None, ConvInteger, MatMulInteger, DynamicQuantizeLSTM };
// True when input `index` of a node in that form is one of its integer weights.
bool is_integer_weight_input(IntegerForm form, size_t index);

struct RuleDecision {
  std::vector<InputDecision> inputs;
  std::vector<OutputDecision> outputs;
  bool removable = false;                   // Relu/Clip: may be folded into the producer's output range
  IntegerForm integer = IntegerForm::None;  // possible integer form in dynamic "integer" mode
  std::string skip;                         // non-empty: the node stays float, for this reason
};

// What a rule may look at besides its node.
struct RuleContext {
  const Graph& graph;
  const QuantOptions& options;
  const ScopeChain* scope = nullptr;  // inside a body: resolves names of the enclosing graphs too
  const DataFlow* flow = nullptr;  // null: every tensor but a weight counts as depending on data
  // Whether the tensor's value depends on the graph inputs' values (not only on constants and shapes).
  bool depends_on_data(const std::string& tensor) const {
    if (is_weight(tensor)) return false;
    return flow ? flow->depends_on_data(tensor) : true;
  }
  DType dtype(const std::string& tensor) const;  // Undefined when unknown
  bool is_float(const std::string& tensor) const { return dtype(tensor) == DType::Float32; }
  bool is_weight(const std::string& tensor) const { return weight(tensor) != nullptr; }
  const Tensor* weight(const std::string& tensor) const { return scope ? scope->weight(tensor) : graph.weight(tensor); }
  // Rank of a tensor when known (weights or shape inference), else -1.
  int rank(const std::string& tensor) const;
};

using QdqRule = RuleDecision (*)(const Node& node, const RuleContext& ctx);

struct QdqRuleEntry {
  const char* op_type;  // ONNX op type (default domain), spelled as in the spec
  const char* family;   // rule family, for reports ("conv", "passthrough", ...)
  QdqRule rule;
};

// The table (src/rewrite/qdq_rules.cpp).
const std::vector<QdqRuleEntry>& qdq_rule_table();
// nullptr when the op type has no row (default domain only).
const QdqRuleEntry* find_qdq_rule(const std::string& op_type);
// "Add, AveragePool, ..." for messages and --help.
std::string quantizable_op_types();

}  // namespace ptq::rewrite
