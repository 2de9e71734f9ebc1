// SPDX-License-Identifier: Apache-2.0
// --int4-format matmulnbits: each DequantizeLinear of a 4- or 8-bit blocked 2-D weight B [K, N] (axis
// 0, block_size B; 8-bit: the edge layers a 4-bit model keeps, QuantOptions::int8_last) read only by a
// MatMul as its input 1 becomes part of one ONNX Runtime com.microsoft MatMulNBits(A, B_packed,
// scales[, zero_points]) with attributes K, N, bits (4 or 8), block_size. With o = 2^(bits−1):
//   B_packed uint8 [N, k_blocks, B·bits/8]: column n of the weight, block b, element k of the block at
//            bits k·bits of the block's bytes (4 bits: byte k/2, the low nibble first); u = q + o for
//            int4/int8 (q − z = u − (z + o)), u = q for uint4/uint8; the tail of the last block (K % B ≠
//            0) is padded with the block's zero point (value 0)
//   scales   float [N · k_blocks], scales[n · k_blocks + b] = the DQ's scale[b, n]
//   zero_points uint8 [N · ceil(k_blocks·bits/8)], block b of column n at bits b·bits of column n's bytes:
//            z + o (signed) or z (unsigned); omitted when every one is o, MatMulNBits' default.
// Likewise each such DequantizeLinear of a table [V, D] blocked along axis 1 that only a Gather (axis 0)
// reads as its data — an embedding — becomes one com.microsoft GatherBlockQuantized(data, indices, scales[,
// zero_points]) with gather_axis 0, quantize_axis 1, block_size, bits: data uint8 [V, D·bits/8] packed as
// above along each row (u = q + o / q), scales [V, k_blocks] as the DQ's, zero points uint8 [V,
// ceil(k_blocks·bits/8)] packed alike, omitted when all are o. ONNX Runtime does not fuse DequantizeLinear
// → Gather: it would dequantize the whole table on every run (a 32000 x 1024 one: ~90 ms), where
// GatherBlockQuantized dequantizes the gathered rows only.
// The DQ and its initializers are removed when nothing else reads them.
#include "matmulnbits.h"

#include <map>
#include <optional>

#include "ptq/ir/onnx_io.h"
#include "rewrite_internal.h"

namespace ptq::rewrite {
namespace {

const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

}  // namespace

// Codes of a 4- or 8-bit tensor as the unsigned fields MatMulNBits and GatherBlockQuantized store:
// u = q + 2^(bits−1) for signed types, q for unsigned ones, `bits` bits each, low bits first.
struct NBitCodes {
  int bits = 0, offset = 0;
  bool is_signed = false;
  explicit NBitCodes(DType type)
      : bits(matmulnbits_bits(type)), is_signed(type == DType::Int4 || type == DType::Int8) {
    offset = is_signed ? 1 << (bits - 1) : 0;
  }
  int u(const Tensor& t, int64_t i) const {
    return (is_signed ? static_cast<int>(t.data<int8_t>()[i]) : static_cast<int>(t.data<uint8_t>()[i])) + offset;
  }
  // u as element `index` of the fields starting at `base`
  void put(uint8_t* base, int64_t index, int u) const {
    base[index * bits / 8] |= static_cast<uint8_t>(u << (index * bits % 8));
  }
  bool default_zero_point(int zu) const { return zu == 1 << (bits - 1); }
};

int matmulnbits_bits(DType type) {
  switch (type) {
    case DType::Int4:
    case DType::UInt4: return 4;
    case DType::Int8:
    case DType::UInt8: return 8;
    default: return 0;
  }
}

PackedNBits pack_matmulnbits(const Tensor& q, const Tensor& scale, const Tensor& zero_point, int64_t block) {
  const NBitCodes c(q.dtype());
  const int bits = c.bits;
  PTQ_CHECK(q.rank() == 2 && bits > 0 && block * bits % 8 == 0);
  const int64_t k_dim = q.dim(0), n_dim = q.dim(1), blocks = (k_dim + block - 1) / block, blob = block * bits / 8;
  PackedNBits p;
  p.bits = bits;
  p.weight = Tensor::zeros(DType::UInt8, {n_dim, blocks, blob});
  p.scales = Tensor(DType::Float32, {n_dim * blocks});
  const int64_t zp_bytes = (blocks * bits + 7) / 8;
  p.zero_points = Tensor::zeros(DType::UInt8, {n_dim * zp_bytes});
  uint8_t* w = p.weight.data<uint8_t>();
  uint8_t* z = p.zero_points.data<uint8_t>();
  p.default_zero_points = true;
  for (int64_t n = 0; n < n_dim; ++n)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t s = b * n_dim + n;  // the DQ's [blocks, N] entry
      p.scales.data<float>()[n * blocks + b] = scale.data<float>()[s];
      const int zu = c.u(zero_point, s);
      p.default_zero_points &= c.default_zero_point(zu);
      c.put(z + n * zp_bytes, b, zu);
      for (int64_t k = 0; k < block; ++k) {
        const int64_t row = b * block + k;
        c.put(w + (n * blocks + b) * blob, k, row < k_dim ? c.u(q, row * n_dim + n) : zu);
      }
    }
  return p;
}

namespace {

// The GatherBlockQuantized inputs of a table q [V, D] (4- or 8-bit codes) blocked along axis 1 with the
// DQ's scale and zero point [V, k_blocks].
struct PackedTable {
  int bits = 4;
  Tensor data, zero_points;  // uint8 [V, D·bits/8], [V, ceil(k_blocks·bits/8)]
  bool default_zero_points = true;
};

PackedTable pack_table(const Tensor& q, const Tensor& zero_point, int64_t block) {
  const NBitCodes c(q.dtype());
  const int bits = c.bits;
  PTQ_CHECK(q.rank() == 2 && bits > 0 && q.dim(1) * bits % 8 == 0);
  const int64_t rows = q.dim(0), cols = q.dim(1), blocks = (cols + block - 1) / block;
  PackedTable p;
  p.bits = bits;
  const int64_t row_bytes = cols * bits / 8, zp_bytes = (blocks * bits + 7) / 8;
  p.data = Tensor::zeros(DType::UInt8, {rows, row_bytes});
  p.zero_points = Tensor::zeros(DType::UInt8, {rows, zp_bytes});
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) c.put(p.data.data<uint8_t>() + r * row_bytes, k, c.u(q, r * cols + k));
    for (int64_t b = 0; b < blocks; ++b) {
      const int zu = c.u(zero_point, r * blocks + b);
      p.default_zero_points &= c.default_zero_point(zu);
      c.put(p.zero_points.data<uint8_t>() + r * zp_bytes, b, zu);
    }
  }
  return p;
}

}  // namespace

// A blocked DequantizeLinear along `axis` of a constant 2-D 4- or 8-bit weight: its codes, scale and zero
// point (zeros when omitted); nullopt for any other DQ.
struct BlockedDQ {
  Tensor q, scale, zero_point;
  int64_t block = 0;
};
std::optional<BlockedDQ> blocked_dq(const onnx::GraphProto& g, const onnx::NodeProto& d, const std::map<std::string, int>& inits,
                                    int64_t axis) {
  const auto* block = attr(d, "block_size");
  const auto* a = attr(d, "axis");
  if (!block || block->i() <= 0 || (a ? a->i() : 1) != axis || d.input_size() < 2) return std::nullopt;
  auto wi = inits.find(d.input(0)), si = inits.find(d.input(1));
  auto zi = d.input_size() > 2 ? inits.find(d.input(2)) : inits.end();
  if (wi == inits.end() || si == inits.end() || (d.input_size() > 2 && zi == inits.end())) return std::nullopt;
  BlockedDQ b;
  b.q = onnx_io::tensor_from_proto(g.initializer(wi->second));
  if (b.q.rank() != 2 || matmulnbits_bits(b.q.dtype()) == 0) return std::nullopt;
  b.scale = onnx_io::tensor_from_proto(g.initializer(si->second));
  b.zero_point = zi != inits.end() ? onnx_io::tensor_from_proto(g.initializer(zi->second)) : Tensor::zeros(b.q.dtype(), b.scale.shape());
  b.block = block->i();
  return b;
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
  // `node` becomes com.microsoft `op` on the packed tensors, added as initializers named after the DQ's
  // weight and `tag`: inputs (packed, node's input 1) or (node's input 0, packed), the scales, and the
  // zero points unless they are the default; the DQ is dropped.
  const auto replace = [&](onnx::NodeProto& node, int dq, const std::string& op, const std::string& tag, bool packed_first,
                           const Tensor& packed, const Tensor& scales, const Tensor* zero_points,
                           const std::vector<std::pair<const char*, int64_t>>& attrs) {
    const onnx::NodeProto& d = g.node(dq);
    const std::string base = d.input(0), data = names.unique(base + "_" + tag);
    std::vector<std::string> inputs = packed_first ? std::vector<std::string>{data, node.input(1)}
                                                   : std::vector<std::string>{node.input(0), data};
    inputs.push_back(names.unique(base + "_" + tag + "_scale"));
    *g.add_initializer() = onnx_io::tensor_to_proto(packed, data);
    *g.add_initializer() = onnx_io::tensor_to_proto(scales, inputs.back());
    if (zero_points) {
      inputs.push_back(names.unique(base + "_" + tag + "_zero_point"));
      *g.add_initializer() = onnx_io::tensor_to_proto(*zero_points, inputs.back());
    }
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_domain("com.microsoft");
    n.set_name(names.unique((node.name().empty() ? base : node.name()) + "_" + op));
    for (const auto& in : inputs) n.add_input(in);
    n.add_output(node.output(0));
    for (const auto& [name, value] : attrs) set_int_attr(n, name, value);
    node = n;
    dropped_nodes.insert(dq);
    for (const auto& in : d.input()) candidates.insert(in);
    ++converted;
  };
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto& ga = *g.mutable_node(i);
    if (ga.op_type() != "Gather" || !ga.domain().empty() || ga.input_size() != 2) continue;
    const auto* gather_axis = attr(ga, "axis");
    auto dq = dq_of.find(ga.input(0));
    if ((gather_axis && gather_axis->i() != 0) || dq == dq_of.end() || readers[ga.input(0)] != 1) continue;
    const onnx::NodeProto& d = g.node(dq->second);
    const std::optional<BlockedDQ> b = blocked_dq(g, d, inits, 1);  // a table [V, D], blocks along its rows
    if (!b || b->q.dim(1) * matmulnbits_bits(b->q.dtype()) % 8 != 0) continue;
    const PackedTable p = pack_table(b->q, b->zero_point, b->block);
    replace(ga, dq->second, "GatherBlockQuantized", "gbq", true, p.data, b->scale, p.default_zero_points ? nullptr : &p.zero_points,
            {{"gather_axis", 0}, {"quantize_axis", 1}, {"block_size", b->block}, {"bits", p.bits}});
  }
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto& mm = *g.mutable_node(i);
    if (mm.op_type() != "MatMul" || !mm.domain().empty() || mm.input_size() != 2) continue;
    auto dq = dq_of.find(mm.input(1));
    if (dq == dq_of.end() || readers[mm.input(1)] != 1) continue;
    const onnx::NodeProto& d = g.node(dq->second);
    const std::optional<BlockedDQ> b = blocked_dq(g, d, inits, 0);  // B [K, N], blocks along K
    if (!b) continue;
    const PackedNBits p = pack_matmulnbits(b->q, b->scale, b->zero_point, b->block);
    replace(mm, dq->second, "MatMulNBits", "nbits", false, p.weight, p.scales, p.default_zero_points ? nullptr : &p.zero_points,
            {{"K", b->q.dim(0)}, {"N", b->q.dim(1)}, {"bits", p.bits}, {"block_size", b->block}});
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
