// SPDX-License-Identifier: Apache-2.0
// The deployment target table: one row per runtime, from its documentation and source
// (../shared/docs/research/deployment-formats.md has the references):
//   ort-cpu   ONNX Runtime CPU: any 8/16-bit type; int8 activations read by several nodes are written
//             as uint8 (shared_int8.cpp) so ONNX Runtime's int8→uint8 conversion reaches every node
//   ort-cpu-novnni  ONNX Runtime CPU on x86 without VNNI (AVX2 only; AVX-512 before Cascade Lake): as
//             ort-cpu, but no int8 weights. Its u8 x s8 kernels add products in pairs into 16 bits
//             (VPMADDUBSW) there and saturate once a weight leaves [-64, 63]; uint8 weights (symmetric,
//             zero point 128, the same values) run as u8 x u8, exact, with ONNX Runtime's default options
//             (MLAS QgemmU8U8; README: Deployment targets)
//   tensorrt  explicit quantization (onnx-tensorrt QuantDequantLinearHelper, ModelOpt trt_guided_options):
//             int8 symmetric everywhere (zero point 0), float bias (TensorRT fuses it; it rejects an int32
//             bias DQ), per-channel only on Conv (axis 0) / ConvTranspose (axis 1) weights, ONNX-domain
//             Q/DQ at opset >= 13, one Q/DQ pair per reader
//   qnn       ONNX Runtime QNN HTP (get_qnn_qdq_config): uint8 or uint16 activations, int8 (or uint8)
//             symmetric weights, per-channel Conv/ConvTranspose, MatMul/Gemm per-tensor, uint16 Sigmoid
//             output scale 1/65536 zero point 0 (Tanh: 1/32768, 32768; ptq leaves Tanh float)
//   xnnpack   ONNX Runtime XNNPACK (GetTensorQuantType): all int8; per-channel int8 weights on axis 0
//             (#scales == shape[0]) with zero point 0; no uint8 activations with int8 weights
//   nnapi     ONNX Runtime NNAPI: uint8 activations; int8 only for Conv/Gemm/MatMul weights with zero
//             point 0; per-channel only on Conv weights (axis 0, Android API >= 29)
//   openvino  the ONNX frontend turns any Q/DQ into FakeQuantize: every 8/16-bit type, per-channel
//             weights; ONNX-domain Q/DQ (opset >= 13, 21 for 16-bit types)
// Explicit flags override a row's defaults unless they break one of its rules (apply_target refuses).
#include <algorithm>

#include "ptq/rewrite/target.h"
#include "ptq/util/error.h"

namespace ptq::rewrite {
namespace {

using Q = QType;
const std::vector<QType> kAnyActivation = {Q::UInt8, Q::Int8, Q::UInt16, Q::Int16};
const std::vector<QType> kAnyWeight = {Q::Int8, Q::UInt8, Q::Int16, Q::Int4, Q::UInt4};
// ort-cpu-novnni: no int8 weights (16- and 4-bit ones are dequantized to float by ONNX Runtime's CPU provider).
const std::vector<QType> kUnsaturatedWeight = {Q::UInt8, Q::Int16, Q::Int4, Q::UInt4};

// clang-format off
const std::vector<Target> kTargets = {
  // name        help
  //   act        weight     symAct per-ch  dedic. unsign opset  act types                  weight types          zeroA  zeroW  fBias  per-channel ops                    sameSg 1-rd-s8 onnxDom qdqOnly fixed i16k
  {"ort-cpu",  "ONNX Runtime CPU (default): any type; int8 activations stay integer end to end",
     Q::UInt8, Q::Int8,  false, true,  false, true,  0,  kAnyActivation,           kAnyWeight,           false, false, false, {},                                 false, true,  false, false, false, false},
  {"ort-cpu-novnni", "ONNX Runtime CPU on x86 without VNNI (AVX2): uint8 weights, which its kernels do not saturate",
     Q::UInt8, Q::UInt8, false, true,  false, true,  0,  kAnyActivation,           kUnsaturatedWeight,   false, false, false, {},                                 false, true,  false, false, false, false},
  {"tensorrt", "TensorRT explicit quantization: int8 symmetric, zero point 0, float bias, per-channel Conv/ConvTranspose",
     Q::Int8,  Q::Int8,  true,  true,  true,  false, 13, {Q::Int8},                 {Q::Int8},            true,  true,  true,  {{"Conv", 0}, {"ConvTranspose", 1}}, false, false, true, true, false, false},
  {"qnn",      "ONNX Runtime QNN (HTP): uint8/uint16 activations, symmetric int8 weights, MatMul per-tensor",
     Q::UInt8, Q::Int8,  false, true,  false, false, 0,  {Q::UInt8, Q::UInt16},     {Q::Int8, Q::UInt8},  false, true,  false, {{"Conv", 0}, {"ConvTranspose", 1}}, false, false, false, true, true, true},
  {"xnnpack",  "ONNX Runtime XNNPACK: all int8, per-channel int8 weights on axis 0 with zero point 0",
     Q::Int8,  Q::Int8,  false, true,  false, false, 0,  {Q::Int8},                 {Q::Int8},            false, true,  false, {{"Conv", 0}, {"Gemm", 0}},         true,  false, false, true, false, false},
  {"nnapi",    "ONNX Runtime NNAPI: uint8 activations, int8 Conv/Gemm/MatMul weights with zero point 0, per-channel Conv only",
     Q::UInt8, Q::Int8,  false, true,  false, false, 0,  {Q::UInt8},                {Q::Int8, Q::UInt8},  false, true,  false, {{"Conv", 0}},                      false, false, false, true, false, false},
  {"openvino", "OpenVINO (FakeQuantize from any Q/DQ): every type, per-channel weights, ONNX-domain Q/DQ",
     Q::UInt8, Q::Int8,  false, true,  false, false, 13, kAnyActivation,           kAnyWeight,           false, false, false, {},                                 false, false, true, true, false, false},
};
// clang-format on

bool allows(const std::vector<QType>& types, QType t) { return std::find(types.begin(), types.end(), t) != types.end(); }

std::string names_of(const std::vector<QType>& types) {
  std::string s;
  for (QType t : types) s += (s.empty() ? "" : "|") + qtype_name(t);
  return s;
}

[[noreturn]] void refuse(const Target& t, const std::string& flag, const std::string& rule) {
  PTQ_FAIL(UsageError, flag, " contradicts --target ", t.name, ": ", rule);
}

}  // namespace

const std::vector<Target>& target_table() { return kTargets; }

std::string target_names() {
  std::string s;
  for (const auto& t : kTargets) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

const Target& find_target(const std::string& name) {
  for (const auto& t : kTargets)
    if (name == t.name) return t;
  PTQ_FAIL(UsageError, "unknown target '", name, "'; expected one of: ", target_names());
}

const Target& effective_target(const std::string& name) { return find_target(name.empty() ? "ort-cpu" : name); }

void apply_target(const Target& t, const GivenFlags& given, QuantOptions& o) {
  if (!given.activation_type) o.activation_type = t.activation_type;
  else if (o.mode == QuantMode::Static && !allows(t.activation_types, o.activation_type))
    refuse(t, "--activation-type " + qtype_name(o.activation_type), "it takes " + names_of(t.activation_types) + " activations");
  if (!given.weight_type) o.weight_type = t.weight_type;
  else if (!allows(t.weight_types, o.weight_type))
    refuse(t, "--weight-type " + qtype_name(o.weight_type), "it takes " + names_of(t.weight_types) + " weights");
  // 4-bit models keep their edge layers' weights in 8 bits (int8_edges): uint8 where the target takes no int8
  o.unsigned_edges = !allows(t.weight_types, QType::Int8) && allows(t.weight_types, QType::UInt8);
  if (const QType edge = edge_weight_spec(o).type; int8_edges(o).any() && !allows(t.weight_types, edge)) {
    if (o.int8_first > 0 || o.int8_last > 0 || o.int8_embeddings > 0)
      refuse(t, "--int8-first/--int8-last/--int8-embeddings", "it takes " + names_of(t.weight_types) + " weights, not " + qtype_name(edge));
    o.int8_first = o.int8_last = o.int8_embeddings = 0;
  }
  if (!given.symmetric_activations) o.symmetric_activations = t.symmetric_activations;
  if (!given.per_tensor) o.per_channel = t.per_channel;
  if (t.qdq_only && o.mode == QuantMode::Dynamic && o.dynamic_format == DynamicFormat::Integer)
    refuse(t, "--dynamic-format integer", "it takes the Q/DQ form only");
  if (t.qdq_only && o.block_size > 0 && o.int4_format == Int4Format::MatMulNBits)
    refuse(t, "--int4-format matmulnbits", "it takes the Q/DQ form only");
  if (t.float_bias) o.quantize_bias = false;  // --float-bias itself is valid everywhere
  o.per_channel_ops = t.per_channel_ops;
  o.dedicated_qdq_pairs = o.dedicated_qdq_pairs || t.dedicated_qdq_pairs;
  o.unsigned_shared_int8 = t.unsigned_shared_int8;
  o.qnn_sigmoid_range = t.fixed_outputs;
  if (!given.opset) o.opset = t.opset;
  else if (o.opset < t.opset) refuse(t, "--opset " + std::to_string(o.opset), "it needs opset " + std::to_string(t.opset) + " or later");
  // ONNX-domain Q/DQ of 16-bit or 4-bit types exist from opset 21 only.
  const bool opset21_types = qtype_bits(o.activation_type) == 16 || qtype_bits(o.weight_type) != 8;
  if (t.onnx_domain && opset21_types) o.opset = 21;
}

}  // namespace ptq::rewrite
