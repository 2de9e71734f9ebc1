// SPDX-License-Identifier: Apache-2.0
// --int4-format matmulnbits: each DequantizeLinear of a 4-bit blocked 2-D weight B [K, N] (axis 0,
// block_size B) read only by a MatMul as its input 1 becomes part of one ONNX Runtime com.microsoft
// MatMulNBits(A, B_packed, scales[, zero_points]) with attributes K, N, bits = 4, block_size:
//   B_packed uint8 [N, k_blocks, B/2]: column n of the weight, block b, element k of the block at byte k/2,
//            the low nibble first (even k); u = q + 8 for int4 (q − z = u − (z + 8)), u = q for uint4;
//            the tail of the last block (K % B ≠ 0) is padded with the block's zero point (value 0)
//   scales   float [N · k_blocks], scales[n · k_blocks + b] = the DQ's scale[b, n]
//   zero_points uint8 [N · ceil(k_blocks / 2)], block b of column n at byte n·ceil(k_blocks/2) + b/2 (low
//            nibble first): z + 8 (int4) or z (uint4); omitted when every one is 8, MatMulNBits' default.
// The DQ and its initializers are removed when nothing else reads them.
#include "matmulnbits.h"

#include <map>

#include "ptq/ir/onnx_io.h"
#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

void set_int(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

}  // namespace

PackedNBits pack_matmulnbits(const Tensor& q, const Tensor& scale, const Tensor& zero_point, int64_t block) {
  PTQ_CHECK(q.rank() == 2 && (q.dtype() == DType::Int4 || q.dtype() == DType::UInt4));
  const int64_t k_dim = q.dim(0), n_dim = q.dim(1), blocks = (k_dim + block - 1) / block, half = block / 2;
  const int offset = q.dtype() == DType::Int4 ? 8 : 0;
  auto code = [&](const Tensor& t, int64_t i) {
    return t.dtype() == DType::Int4 ? static_cast<int>(t.data<int8_t>()[i]) : static_cast<int>(t.data<uint8_t>()[i]);
  };
  PackedNBits p;
  p.weight = Tensor::zeros(DType::UInt8, {n_dim, blocks, half});
  p.scales = Tensor(DType::Float32, {n_dim * blocks});
  const int64_t zp_bytes = (blocks + 1) / 2;
  p.zero_points = Tensor::zeros(DType::UInt8, {n_dim * zp_bytes});
  uint8_t* w = p.weight.data<uint8_t>();
  uint8_t* z = p.zero_points.data<uint8_t>();
  p.default_zero_points = true;
  for (int64_t n = 0; n < n_dim; ++n)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t s = b * n_dim + n;  // the DQ's [blocks, N] entry
      p.scales.data<float>()[n * blocks + b] = scale.data<float>()[s];
      const int zu = code(zero_point, s) + offset;
      p.default_zero_points &= zu == 8;
      z[n * zp_bytes + b / 2] |= static_cast<uint8_t>(zu << (b % 2 ? 4 : 0));
      for (int64_t k = 0; k < block; ++k) {
        const int64_t row = b * block + k;
        const int u = row < k_dim ? code(q, row * n_dim + n) + offset : zu;
        w[(n * blocks + b) * half + k / 2] |= static_cast<uint8_t>(u << (k % 2 ? 4 : 0));
      }
    }
  return p;
}

size_t to_matmulnbits(onnx::ModelProto& model) {
  onnx::GraphProto& g = *model.mutable_graph();
  std::map<std::string, int> inits, readers;
  for (int i = 0; i < g.initializer_size(); ++i) inits[g.initializer(i).name()] = i;
  for (const auto& n : g.node())
    for (const auto& in : n.input()) ++readers[in];
  for (const auto& o : g.output()) ++readers[o.name()];
  std::map<std::string, int> dq_of;  // DQ output -> node index
  for (int i = 0; i < g.node_size(); ++i)
    if (g.node(i).op_type() == "DequantizeLinear") dq_of[g.node(i).output(0)] = i;
  Names names(g);
  std::set<int> dropped_nodes;
  std::set<std::string> candidates;
  size_t converted = 0;
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto& mm = *g.mutable_node(i);
    if (mm.op_type() != "MatMul" || !mm.domain().empty() || mm.input_size() != 2) continue;
    auto dq = dq_of.find(mm.input(1));
    if (dq == dq_of.end() || readers[mm.input(1)] != 1) continue;
    const onnx::NodeProto& d = g.node(dq->second);
    const auto* block = attr(d, "block_size");
    const auto* axis = attr(d, "axis");
    if (!block || block->i() <= 0 || (axis && axis->i() != 0) || d.input_size() < 2) continue;
    auto wi = inits.find(d.input(0)), si = inits.find(d.input(1));
    auto zi = d.input_size() > 2 ? inits.find(d.input(2)) : inits.end();
    if (wi == inits.end() || si == inits.end() || (d.input_size() > 2 && zi == inits.end())) continue;
    const Tensor q = onnx_io::tensor_from_proto(g.initializer(wi->second));
    if (q.rank() != 2 || (q.dtype() != DType::Int4 && q.dtype() != DType::UInt4)) continue;
    const Tensor scale = onnx_io::tensor_from_proto(g.initializer(si->second));
    const Tensor zero_point = zi != inits.end() ? onnx_io::tensor_from_proto(g.initializer(zi->second)) : Tensor::zeros(q.dtype(), scale.shape());
    const PackedNBits p = pack_matmulnbits(q, scale, zero_point, block->i());
    const std::string base = d.input(0);
    std::vector<std::string> inputs = {mm.input(0), names.unique(base + "_nbits"), names.unique(base + "_nbits_scale")};
    *g.add_initializer() = onnx_io::tensor_to_proto(p.weight, inputs[1]);
    *g.add_initializer() = onnx_io::tensor_to_proto(p.scales, inputs[2]);
    if (!p.default_zero_points) {
      inputs.push_back(names.unique(base + "_nbits_zero_point"));
      *g.add_initializer() = onnx_io::tensor_to_proto(p.zero_points, inputs.back());
    }
    onnx::NodeProto nb;
    nb.set_op_type("MatMulNBits");
    nb.set_domain("com.microsoft");
    nb.set_name(names.unique(mm.name().empty() ? base + "_MatMulNBits" : mm.name() + "_MatMulNBits"));
    for (const auto& in : inputs) nb.add_input(in);
    nb.add_output(mm.output(0));
    set_int(nb, "K", q.dim(0));
    set_int(nb, "N", q.dim(1));
    set_int(nb, "bits", 4);
    set_int(nb, "block_size", block->i());
    mm = nb;
    dropped_nodes.insert(dq->second);
    for (const auto& in : d.input()) candidates.insert(in);
    ++converted;
  }
  if (!converted) return 0;
  for (auto it = dropped_nodes.rbegin(); it != dropped_nodes.rend(); ++it) g.mutable_node()->DeleteSubrange(*it, 1);
  std::set<std::string> reads;
  collect_reads(g, reads);
  erase_if(g.mutable_initializer(), [&](const onnx::TensorProto& t) { return candidates.count(t.name()) && !reads.count(t.name()); });
  erase_if(g.mutable_value_info(), [&](const onnx::ValueInfoProto& v) { return !reads.count(v.name()) && dq_of.count(v.name()); });
  return converted;
}

}  // namespace ptq::rewrite
