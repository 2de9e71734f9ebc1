// SPDX-License-Identifier: Apache-2.0
// check_target: the rules of a target row (target.h) over a finished Q/DQ model's graph, one Violation
// per (node, rule). Classification of each QuantizeLinear/DequantizeLinear (ONNX or com.microsoft):
//   type    its zero point's type (a DQ without one: its input's type; a Q without one: uint8);
//   bias    a DequantizeLinear of an int32 initializer;
//   weight  a DequantizeLinear of another initializer read as a weight: input 1 of Conv, ConvTranspose,
//           Gemm, MatMul, LayerNormalization (γ), input 0 of Gather (an embedding table), inputs 1-2 of
//           LSTM/GRU/RNN; and any blocked or 4-bit DequantizeLinear of an initializer (a table read
//           through Slice);
//   activation  any other Q/DQ (computed tensors, and constant inputs of other ops).
// One rule function per rule name, in a table; each sees one Q/DQ node (or the model, for the opset).
#include <algorithm>
#include <map>
#include <set>

#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/target.h"

namespace ptq::rewrite {
namespace {

// The inputs ptq quantizes as weights (rules table: the weight input of each family).
const std::map<std::string, std::set<int>> kWeightInputs = {
    {"Conv", {1}}, {"ConvTranspose", {1}}, {"Gemm", {1}},    {"MatMul", {1}},    {"LayerNormalization", {1}},
    {"Gather", {0}}, {"LSTM", {1, 2}},      {"GRU", {1, 2}}, {"RNN", {1, 2}},
};

bool reads_as_weight(const onnx::NodeProto& r, const std::string& tensor) {
  auto it = r.domain().empty() ? kWeightInputs.find(r.op_type()) : kWeightInputs.end();
  if (it == kWeightInputs.end()) return false;
  for (int i = 0; i < r.input_size(); ++i)
    if (r.input(i) == tensor && it->second.count(i)) return true;
  return false;
}

struct QdqNode {
  const onnx::NodeProto* node;
  bool quantize;
  DType type;
  std::vector<int64_t> zero_point;  // empty: none given (0)
  int64_t scales = 1;               // number of scale values
  float scale = 0.0f;               // the first one
  int axis = 1;
  bool bias = false, weight = false;
};

struct ModelView {
  std::map<std::string, const onnx::TensorProto*> inits;
  std::map<std::string, std::vector<const onnx::NodeProto*>> readers;  // tensor -> nodes reading it
  std::set<std::string> outputs;
  std::map<std::string, const onnx::NodeProto*> producers;
  std::vector<QdqNode> qdq;
};

bool is_qdq(const onnx::NodeProto& n) {
  return (n.domain().empty() || n.domain() == "ai.onnx" || n.domain() == "com.microsoft") &&
         (n.op_type() == "QuantizeLinear" || n.op_type() == "DequantizeLinear");
}

std::vector<int64_t> int_values(const onnx::TensorProto& t) {
  Tensor v = onnx_io::tensor_from_proto(t);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < v.numel(); ++i) {
    switch (v.dtype()) {
      case DType::Int8: case DType::Int4: out.push_back(v.data<int8_t>()[i]); break;
      case DType::UInt8: case DType::UInt4: out.push_back(v.data<uint8_t>()[i]); break;
      case DType::Int16: out.push_back(v.data<int16_t>()[i]); break;
      case DType::UInt16: out.push_back(v.data<uint16_t>()[i]); break;
      case DType::Int32: out.push_back(v.data<int32_t>()[i]); break;
      default: break;
    }
  }
  return out;
}

int64_t numel_of(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) n *= d;
  return n;
}

ModelView view_of(const onnx::GraphProto& g) {
  ModelView m;
  for (const auto& t : g.initializer()) m.inits[t.name()] = &t;
  for (const auto& o : g.output()) m.outputs.insert(o.name());
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) m.readers[in].push_back(&n);
    for (const auto& out : n.output()) m.producers[out] = &n;
  }
  for (const auto& n : g.node()) {
    if (!is_qdq(n)) continue;
    QdqNode q{&n, n.op_type() == "QuantizeLinear", DType::UInt8, {}, 1, 1, false, false};
    auto init = [&](int i) -> const onnx::TensorProto* {
      if (n.input_size() <= i) return nullptr;
      auto it = m.inits.find(n.input(i));
      return it == m.inits.end() ? nullptr : it->second;
    };
    const onnx::TensorProto* x = init(0);
    if (const auto* zp = init(2)) {
      q.type = static_cast<DType>(zp->data_type());
      q.zero_point = int_values(*zp);
    } else if (!q.quantize && x) {
      q.type = static_cast<DType>(x->data_type());
    }
    if (const auto* s = init(1)) {
      q.scales = numel_of(*s);
      Tensor v = onnx_io::tensor_from_proto(*s);
      if (v.dtype() == DType::Float32 && v.numel() > 0) q.scale = v.data<float>()[0];
    }
    bool blocked = false;
    for (const auto& a : n.attribute()) {
      if (a.name() == "axis") q.axis = static_cast<int>(a.i());
      blocked |= a.name() == "block_size";
    }
    q.bias = !q.quantize && x && q.type == DType::Int32;
    if (!q.quantize && x && !q.bias)
      for (const auto* r : m.readers[n.output(0)]) q.weight |= reads_as_weight(*r, n.output(0));
    q.weight |= !q.quantize && x && (blocked || q.type == DType::Int4 || q.type == DType::UInt4);  // only weights are blocked / 4-bit
    m.qdq.push_back(q);
  }
  return m;
}

bool is_signed(DType d) { return d == DType::Int8 || d == DType::Int16 || d == DType::Int4 || d == DType::Int32; }

std::string types_of(const std::vector<QType>& types) {
  std::string s;
  for (QType t : types) s += (s.empty() ? "" : "|") + qtype_name(t);
  return s;
}

bool has(const std::vector<QType>& types, DType d) {
  for (QType t : types)
    if (qtype_dtype(t) == d) return true;
  return false;
}

bool nonzero(const std::vector<int64_t>& zp) {
  for (int64_t z : zp)
    if (z != 0) return true;
  return false;
}

using Out = std::vector<Violation>;
using Rule = void (*)(const ModelView&, const QdqNode&, const Target&, Out&);

void add(Out& out, const onnx::NodeProto& n, const char* rule, const std::string& what) {
  out.push_back({n.name().empty() ? n.output(0) : n.name(), rule, n.op_type() + ": " + what});
}

void rule_activation_type(const ModelView&, const QdqNode& q, const Target& t, Out& out) {
  if (!q.bias && !q.weight && !has(t.activation_types, q.type))
    add(out, *q.node, "activation-type", dtype_name(q.type) + " activation; " + t.name + " takes " + types_of(t.activation_types));
}

void rule_weight_type(const ModelView&, const QdqNode& q, const Target& t, Out& out) {
  if (q.weight && !has(t.weight_types, q.type))
    add(out, *q.node, "weight-type", dtype_name(q.type) + " weight; " + t.name + " takes " + types_of(t.weight_types));
}

void rule_zero_point(const ModelView&, const QdqNode& q, const Target& t, Out& out) {
  const bool want = q.weight ? t.zero_weights && is_signed(q.type) : !q.bias && t.zero_activations;
  if (want && nonzero(q.zero_point))
    add(out, *q.node, "zero-point", std::string("non-zero zero point on a ") + (q.weight ? "weight" : "activation") + "; " + t.name +
                                        " takes zero point 0");
}

void rule_bias_int32(const ModelView&, const QdqNode& q, const Target& t, Out& out) {
  if (q.bias && t.float_bias) add(out, *q.node, "bias-int32", std::string("int32 bias dequantized; ") + t.name + " takes a float bias");
}

void rule_per_axis_activation(const ModelView&, const QdqNode& q, const Target&, Out& out) {
  if (!q.weight && !q.bias && q.scales > 1) add(out, *q.node, "per-axis-activation", "per-axis parameters on an activation");
}

void rule_per_channel_op(const ModelView& m, const QdqNode& q, const Target& t, Out& out) {
  if (!q.weight || q.scales <= 1 || t.per_channel_ops.empty()) return;
  for (const auto* r : m.readers.at(q.node->output(0)))
    if (std::find(t.per_channel_ops.begin(), t.per_channel_ops.end(), std::make_pair(r->op_type(), q.axis)) == t.per_channel_ops.end())
      add(out, *r, "per-channel-op", "per-channel weight on axis " + std::to_string(q.axis) + "; " + t.name + " takes per-channel weights only on " + [&] {
            std::string s;
            for (const auto& [op, axis] : t.per_channel_ops) s += (s.empty() ? "" : ", ") + op + " axis " + std::to_string(axis);
            return s;
          }());
}

void rule_mixed_sign(const ModelView& m, const QdqNode& q, const Target& t, Out& out) {
  if (!q.weight || !t.same_sign) return;
  std::map<std::string, const QdqNode*> by_output;
  for (const auto& o : m.qdq) by_output[o.node->output(0)] = &o;
  for (const auto* r : m.readers.at(q.node->output(0))) {
    auto x = by_output.find(r->input(0));
    if (x != by_output.end() && is_signed(x->second->type) != is_signed(q.type))
      add(out, *r, "mixed-sign", dtype_name(x->second->type) + " input with " + dtype_name(q.type) + " weight; " + t.name +
                                     " takes both signed or both unsigned");
  }
}

void rule_shared_int8_q(const ModelView& m, const QdqNode& q, const Target& t, Out& out) {
  if (!q.quantize || !t.single_reader_int8 || q.type != DType::Int8) return;
  const std::string& y = q.node->output(0);
  auto readers = m.readers.count(y) ? m.readers.at(y) : std::vector<const onnx::NodeProto*>{};
  size_t after = 0;
  if (readers.size() == 1 && readers[0]->op_type() == "DequantizeLinear") {
    const std::string& z = readers[0]->output(0);
    after = (m.readers.count(z) ? m.readers.at(z).size() : 0) + m.outputs.count(z);
  }
  if (readers.size() > 1 || after > 1)
    add(out, *q.node, "shared-int8-q", "int8 QuantizeLinear with several readers; ONNX Runtime's CPU provider keeps its neighbours float "
                                       "(write it as uint8, zero point + 128)");
}

void rule_int8_constant(const ModelView& m, const QdqNode& q, const Target& t, Out& out) {
  if (q.quantize || q.weight || q.bias || !t.single_reader_int8 || q.type != DType::Int8 || !m.inits.count(q.node->input(0))) return;
  add(out, *q.node, "int8-constant", "int8 constant that is not a weight; ONNX Runtime's CPU provider keeps "
                                     "the reader float (write it as uint8, zero point + 128)");
}

void rule_fixed_output(const ModelView& m, const QdqNode& q, const Target& t, Out& out) {
  if (!q.quantize || !t.fixed_outputs || q.type != DType::UInt16) return;
  auto p = m.producers.find(q.node->input(0));
  if (p == m.producers.end()) return;
  struct Fixed {
    const char* op;
    float scale;
    int64_t zero_point;
  };
  static const Fixed kFixed[] = {{"Sigmoid", 1.0f / 65536.0f, 0}, {"Tanh", 1.0f / 32768.0f, 32768}};
  for (const auto& f : kFixed) {
    const int64_t zp = q.zero_point.empty() ? 0 : q.zero_point[0];
    if (p->second->op_type() == f.op && (q.scale != f.scale || zp != f.zero_point))
      add(out, *q.node, "fixed-output", std::string("uint16 ") + f.op + " output with scale " + std::to_string(q.scale) + ", zero point " +
                                            std::to_string(zp) + "; " + t.name + " takes scale 1/" + std::to_string(static_cast<int>(1.0f / f.scale)) +
                                            ", zero point " + std::to_string(f.zero_point));
  }
}

void rule_qdq_domain(const ModelView&, const QdqNode& q, const Target& t, Out& out) {
  if (t.onnx_domain && q.node->domain() == "com.microsoft")
    add(out, *q.node, "opset", std::string("com.microsoft Q/DQ; ") + t.name + " takes ONNX-domain Q/DQ");
}

struct RuleRow {
  const char* name;
  Rule fn;
};

const RuleRow kRules[] = {
    {"activation-type", rule_activation_type}, {"weight-type", rule_weight_type},
    {"zero-point", rule_zero_point},           {"bias-int32", rule_bias_int32},
    {"per-axis-activation", rule_per_axis_activation}, {"per-channel-op", rule_per_channel_op},
    {"mixed-sign", rule_mixed_sign},           {"shared-int8-q", rule_shared_int8_q},
    {"int8-constant", rule_int8_constant},     {"fixed-output", rule_fixed_output},
    {"opset", rule_qdq_domain},
};

// Integer-operator forms (dynamic integer format, MatMulNBits, QLinear* models): ONNX Runtime CPU only.
bool integer_operator(const onnx::NodeProto& n) {
  static const std::set<std::string> ops = {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"};
  return ops.count(n.op_type()) || (n.domain() == "com.microsoft" && !is_qdq(n));
}

}  // namespace

std::vector<Violation> check_target(const onnx::ModelProto& model, const Target& t) {
  Out out;
  const int64_t opset = onnx_io::default_opset(model);
  if (opset < t.opset)
    out.push_back({"", "opset", "default opset " + std::to_string(opset) + "; " + t.name + " needs " + std::to_string(t.opset) + " or later"});
  const ModelView m = view_of(model.graph());
  for (const auto& q : m.qdq)
    for (const auto& r : kRules) r.fn(m, q, t, out);
  if (t.qdq_only)
    for (const auto& n : model.graph().node())
      if (integer_operator(n)) add(out, n, "qdq-only", std::string("integer operator; ") + t.name + " takes the Q/DQ form only");
  return out;
}

}  // namespace ptq::rewrite
