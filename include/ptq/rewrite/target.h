// SPDX-License-Identifier: Apache-2.0
// Deployment targets: one row per runtime (target_table.cpp) holding the Q/DQ dialect that runtime
// accepts — the defaults a target sets on QuantOptions and the hard rules its Q/DQ must follow — and a
// checker over a finished Q/DQ model (target_check.cpp) that lists every (node, rule) a model breaks.
//
//   const Target& t = find_target("tensorrt");          // UsageError listing the names otherwise
//   apply_target(t, given, options);                      // defaults, then the user's explicit flags
//   std::vector<Violation> v = check_target(model, t);    // empty: the runtime takes the model as is
//
// Rules (a row's fields; "weight" = a DequantizeLinear of a non-int32 initializer read as the weight of
// Conv/ConvTranspose/Gemm/MatMul/LayerNormalization/Gather/LSTM/GRU/RNN (target_check.cpp), "activation"
// = any other Q/DQ but an int32 bias):
//   activation-type   activation Q/DQ type in `activation_types`
//   weight-type       weight DQ type in `weight_types`
//   zero-point        zero points 0 on activations (`zero_activations`) / on signed weights (`zero_weights`)
//   bias-int32        no DequantizeLinear of int32 (bias) when `float_bias`
//   per-axis-activation  per-axis parameters only on weights
//   per-channel-op    a per-channel weight read only by `per_channel_ops` on their documented axis
//   mixed-sign        activations and weights of one node both signed or both unsigned (`same_sign`)
//   opset             default opset >= `opset`; Q/DQ in the ONNX domain (`onnx_domain`)
//   fixed-output      (`fixed_outputs`) a uint16 Sigmoid output: scale 1/65536, zero point 0; a uint16
//                     Tanh output: scale 1/32768, zero point 32768 (ONNX Runtime's get_qnn_qdq_config)
//   qdq-only          (`qdq_only`) no integer operators (DynamicQuantizeLinear, ConvInteger, MatMulInteger,
//                     QLinear*, com.microsoft MatMulNBits...): the runtime takes the Q/DQ form only
//   shared-int8-q     (`single_reader_int8`) an int8 QuantizeLinear feeds one DequantizeLinear with one
//                     reader: ONNX Runtime's CPU provider converts int8 Q/DQ pairs to uint8
//                     (QDQS8ToU8Transformer) only then, after giving every reader its own DQ
//                     (EnsureUniqueDQForNodeUnit); otherwise the node units around it stay float
//   int8-constant     (`single_reader_int8`) no int8 DQ of a constant other than a weight (ONNX Runtime
//                     converts a lone int8 DQ only when its values overflow 7 bits; its reader stays float)
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "ptq/quant/qspec.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::rewrite {

struct Target {
  const char* name;
  const char* help;
  // Defaults set on QuantOptions.
  QType activation_type;
  QType weight_type;
  bool symmetric_activations;
  bool per_channel;
  bool dedicated_qdq_pairs;
  bool unsigned_shared_int8;  // QuantOptions::unsigned_shared_int8
  int64_t opset;              // QuantOptions::opset (minimum default opset; 0: keep)
  // Hard rules (check_target; explicit flags contradicting them are refused).
  std::vector<QType> activation_types;
  std::vector<QType> weight_types;
  bool zero_activations;
  bool zero_weights;
  bool float_bias;
  std::vector<std::pair<std::string, int>> per_channel_ops;  // (op, weight axis); empty: any op and axis
  bool same_sign;
  bool single_reader_int8;
  bool onnx_domain;
  bool qdq_only;  // no integer-operator form (ConvInteger, MatMulInteger, MatMulNBits, QLinear*, ...)
  bool fixed_outputs;  // 16-bit Sigmoid/Tanh outputs with QNN's fixed parameters (QuantOptions::qnn_sigmoid_range)
  // Informational: the runtime has integer kernels for 16-bit layers. Where it has none (ONNX Runtime's
  // CPU provider, OpenVINO's CPU plugin), a layer the precision search promotes to int16 runs in float
  // between its 16-bit QuantizeLinear/DequantizeLinear, slower than a float layer (pipeline says so).
  bool int16_kernels;
};

const std::vector<Target>& target_table();
const Target& find_target(const std::string& name);  // UsageError listing the names
// The target a run is quantized for: `name`, or ort-cpu (whose defaults ptq uses) when it is empty.
const Target& effective_target(const std::string& name);
std::string target_names();                          // "ort-cpu, tensorrt, ..."

// Which quantization flags the user gave explicitly. They override a target's defaults, or are refused
// with a UsageError naming the flag and the rule when they contradict one of its hard rules (a type the
// runtime does not take, an opset below its minimum). --per-tensor, --symmetric-activations,
// --float-bias, --reduce-range are valid for every target. A target's float bias, per-channel op list,
// dedicated pairs and shared-int8 handling always apply.
struct GivenFlags {
  bool activation_type = false;
  bool weight_type = false;
  bool per_tensor = false;
  bool symmetric_activations = false;
  bool opset = false;
};

// `options` holds the user's values; the target's defaults replace the ones not given.
void apply_target(const Target& target, const GivenFlags& given, QuantOptions& options);

struct Violation {
  std::string node;  // the node (Q/DQ or its reader) breaking the rule; "" for the model (opset)
  std::string rule;  // one of the rule names above
  std::string what;  // one line: what was found and what the target takes
};

std::vector<Violation> check_target(const onnx::ModelProto& model, const Target& target);

}  // namespace ptq::rewrite
