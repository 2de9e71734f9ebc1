// SPDX-License-Identifier: Apache-2.0
// Channel splitting (passes.h): per-channel-range activation grids for a convolution feeding a
// depthwise convolution, with every convolution kept integer. A float pass run before calibration; the
// float model computes the same function.
//
// The case: a Conv (group 1) writes X whose channels' ranges differ by orders of magnitude (a detector's
// stem on raw 0–255 pixels with BatchNorm folded: YOLOX-nano's channels span ±0.4 to ±93). One
// per-tensor 8-bit grid of X zeroes the small channels, and a depthwise Conv reading X (after
// element-wise activations) keeps each channel apart, so nothing downstream recovers them: they are
// amplified, not mixed away. QLinearConv's output grid is per-tensor, so --equalize restores X in float
// and the search then promotes the stem. Splitting keeps the arithmetic integer instead:
//
//   Conv → [activations] → depthwise Conv → [activations] → Y
// becomes, for channel groups G_1..G_k of similar range (max/min at most kGroupRatio, at most kMaxGroups
// groups, largest first),
//   Conv[G_i] → [activations] → depthwise Conv[G_i] → [activations] → Y_i     (one chain per group)
//   Concat(Y_1..Y_k, axis 1) → Gather(axis 1, inverse permutation) → Y
// so each group's tensors get their own per-tensor grid; Y and everything after it are unchanged. The
// Concat reads grids of different scales (ONNX Runtime requantizes them; the Gather of one grid is
// integer). Conditions: X has gain noise_gain ≥ min_gain; the activations are channelwise_activation_ops
// whose other inputs are scalar constants; the depthwise Conv has constant weights [C, 1, ...] and
// group C; every tensor of the chain but Y is read only inside it and is no graph output.
// New weights are initializers "<weight>_split<i>", new nodes and tensors "<name>_split<i>".
#include <algorithm>
#include <numeric>

#include "../rewrite_internal.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/passes.h"
#include "ptq/util/log.h"

namespace ptq::rewrite {
namespace {

constexpr double kGroupRatio = 8.0;        // largest max|x| of a group over its smallest (3 bits lost at most)
constexpr size_t kMaxGroups = 4;           // the last group takes every channel left
constexpr double kDeadShare = 1.0 / 4096;  // a channel below this share of the top counts as this share

const Node& node_at(const Graph& g, int i) { return g.nodes[static_cast<size_t>(i)]; }

// The nodes reading `t` when they are element-wise activations forming one block with one exit (SiLU:
// Sigmoid(t), Mul(t, σ)): their indices and the exit tensor, else empty.
struct Block {
  std::vector<int> nodes;
  std::string exit;
};
Block activation_block(const Graph& g, const std::string& t) {
  Block b;
  const std::vector<int> readers = g.consumers(t);
  if (readers.empty()) return {};
  std::set<std::string> outs;
  for (int r : readers) {
    const Node& n = node_at(g, r);
    if (!n.domain.empty() || !channelwise_activation_ops().count(n.op_type) || n.op_type == "PRelu" ||
        n.outputs.size() != 1)
      return {};
    outs.insert(n.outputs[0]);
  }
  for (int r : readers) {
    const Node& n = node_at(g, r);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const std::string& in = n.inputs[i];
      if (in.empty() || in == t || (n.op_type == "Mul" && outs.count(in))) continue;
      const Tensor* c = g.weight(in);
      if (!c || c->numel() != 1) return {};  // a per-channel constant would need splitting too
    }
  }
  // The exit: the one output no block node reads; the others are read only inside the block.
  for (const std::string& o : outs) {
    bool inside_only = !g.is_graph_output(o);
    bool read_inside = false;
    for (int c : g.consumers(o)) {
      const bool inside = std::find(readers.begin(), readers.end(), c) != readers.end();
      read_inside = read_inside || inside;
      inside_only = inside_only && inside;
    }
    if (read_inside && !inside_only) return {};
    if (!read_inside) {
      if (!b.exit.empty()) return {};
      b.exit = o;
    }
  }
  if (b.exit.empty()) return {};
  b.nodes = readers;
  std::sort(b.nodes.begin(), b.nodes.end());
  return b;
}

// The depthwise Conv reading `t` (its only reader) over `channels` channels, else -1.
int depthwise_reader(const Graph& g, const std::string& t, int64_t channels) {
  const std::vector<int> readers = g.consumers(t);
  if (readers.size() != 1) return -1;
  const Node& n = node_at(g, readers[0]);
  const Tensor* w = constant_conv_weight(g, n);
  if (!w || n.input(0) != t || n.outputs.size() != 1 || w->dim(0) != channels || w->dim(1) != 1 ||
      n.attr_int("group", 1) != channels)
    return -1;
  return readers[0];
}

// A Conv writing X, the nodes after it up to Y (see the header), the depthwise one among them.
struct Chain {
  int conv = -1;
  int depthwise = -1;
  std::vector<int> nodes;  // after conv, in graph order
  std::string exit;        // Y
};

// The chain starting at the Conv writing `x`, or one with conv = -1.
Chain find_chain(const Graph& g, const std::string& x) {
  Chain c;
  const int p = g.producer(x);
  if (p < 0) return c;
  const Node& conv = node_at(g, p);
  const Tensor* w = constant_conv_weight(g, conv);
  if (!w || conv.outputs.size() != 1 || conv.attr_int("group", 1) != 1 || g.is_graph_output(x)) return c;
  std::string t = x;
  auto absorb_blocks = [&](bool last) {
    for (Block b = activation_block(g, t); !b.nodes.empty(); b = activation_block(g, t)) {
      if (!last && g.is_graph_output(b.exit)) return false;  // read outside the chain
      c.nodes.insert(c.nodes.end(), b.nodes.begin(), b.nodes.end());
      t = b.exit;
      if (last && g.is_graph_output(t)) break;
    }
    return true;
  };
  if (!absorb_blocks(false)) return c;
  const int dw = depthwise_reader(g, t, w->dim(0));
  if (dw < 0) return c;
  c.nodes.push_back(dw);
  t = node_at(g, dw).outputs[0];
  if (!g.is_graph_output(t)) absorb_blocks(true);
  c.conv = p;
  c.depthwise = dw;
  c.exit = t;
  return c;
}

// Channel groups of similar range, largest first, each in channel order.
std::vector<std::vector<int64_t>> channel_groups(const std::vector<double>& a) {
  std::vector<int64_t> order(a.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return a[static_cast<size_t>(x)] > a[static_cast<size_t>(y)]; });
  const double top = a[static_cast<size_t>(order[0])];
  std::vector<std::vector<int64_t>> groups;
  double lead = 0.0;
  for (int64_t c : order) {
    const double v = std::max(a[static_cast<size_t>(c)], top * kDeadShare);
    if (groups.empty() || (lead > kGroupRatio * v && groups.size() < kMaxGroups)) {
      groups.emplace_back();
      lead = v;
    }
    groups.back().push_back(c);
  }
  for (auto& grp : groups) std::sort(grp.begin(), grp.end());
  return groups;
}

// The rows `rows` of a tensor along axis 0.
Tensor take_rows(const Tensor& t, const std::vector<int64_t>& rows) {
  Shape shape = t.shape();
  const int64_t inner = t.numel() / shape[0];
  shape[0] = static_cast<int64_t>(rows.size());
  Tensor out(DType::Float32, shape);
  for (size_t r = 0; r < rows.size(); ++r)
    std::copy_n(t.data<float>() + rows[r] * inner, inner, out.data<float>() + static_cast<int64_t>(r) * inner);
  return out;
}

class Splitter {
 public:
  Splitter(const onnx::ModelProto& model, const Graph& g) : g_(g), model_(model), names_(model.graph()) {}

  void split(const Chain& c, const std::vector<std::vector<int64_t>>& groups) {
    onnx::GraphProto& gp = *model_.mutable_graph();
    std::vector<int> all = c.nodes;
    all.push_back(c.conv);
    int last = -1;
    for (int n : all) {
      last = std::max(last, node_at(g_, n).proto_index);
      removed_.insert(node_at(g_, n).proto_index);
    }
    std::vector<onnx::NodeProto>& out = inserted_[last];
    std::vector<std::string> exits;
    for (size_t k = 0; k < groups.size(); ++k) {
      const std::string tag = "_split" + std::to_string(k);
      std::map<std::string, std::string> renamed;  // chain tensor -> this group's
      std::vector<int> chain = {c.conv};
      chain.insert(chain.end(), c.nodes.begin(), c.nodes.end());
      for (int n : chain) {
        const Node& node = node_at(g_, n);
        onnx::NodeProto p = gp.node(node.proto_index);
        p.set_name(names_.unique((node.name.empty() ? node.op_type : node.name) + tag));
        for (int i = 0; i < p.input_size(); ++i)
          if (auto it = renamed.find(p.input(i)); it != renamed.end()) p.set_input(i, it->second);
        if (n == c.conv || n == c.depthwise) split_weights(node, p, groups[k], tag);
        if (n == c.depthwise) set_int_attr(p, "group", static_cast<int64_t>(groups[k].size()));
        const std::string name = names_.unique(node.outputs[0] + tag);
        declare_split(node.outputs[0], name, static_cast<int64_t>(groups[k].size()));
        renamed[node.outputs[0]] = name;
        p.set_output(0, name);
        out.push_back(std::move(p));
        if (node.outputs[0] != c.exit) replaced_tensors_.insert(node.outputs[0]);
      }
      exits.push_back(renamed.at(c.exit));
    }
    const std::string cat = names_.unique(c.exit + "_split_concat");
    onnx::NodeProto concat;
    concat.set_op_type("Concat");
    concat.set_name(names_.unique(c.exit + "_Split_Concat"));
    for (const auto& e : exits) concat.add_input(e);
    concat.add_output(cat);
    set_int_attr(concat, "axis", 1);
    out.push_back(concat);
    int64_t channels = 0;
    for (const auto& grp : groups) channels += static_cast<int64_t>(grp.size());
    Tensor inverse(DType::Int64, Shape{channels});
    int64_t pos = 0;
    for (const auto& grp : groups)
      for (int64_t ch : grp) inverse.data<int64_t>()[ch] = pos++;
    const std::string indices = names_.unique(c.exit + "_split_order");
    *gp.add_initializer() = onnx_io::tensor_to_proto(inverse, indices);
    onnx::NodeProto gather;
    gather.set_op_type("Gather");
    gather.set_name(names_.unique(c.exit + "_Split_Gather"));
    gather.add_input(cat);
    gather.add_input(indices);
    gather.add_output(c.exit);
    set_int_attr(gather, "axis", 1);
    out.push_back(gather);
    declare_split(c.exit, cat, channels);
  }

  onnx::ModelProto finish() {
    onnx::GraphProto& gp = *model_.mutable_graph();
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (int i = 0; i < gp.node_size(); ++i) {
      if (!removed_.count(i)) *nodes.Add() = gp.node(i);
      if (auto it = inserted_.find(i); it != inserted_.end())
        for (auto& n : it->second) *nodes.Add() = std::move(n);
    }
    gp.mutable_node()->Swap(&nodes);
    erase_if(gp.mutable_value_info(),
             [&](const onnx::ValueInfoProto& v) { return replaced_tensors_.count(v.name()) != 0; });
    drop_unread_weights(gp, g_, replaced_weights_);
    return std::move(model_);
  }

 private:
  // The Conv's weight and bias rows of `rows` as new initializers, read by p.
  void split_weights(const Node& node, onnx::NodeProto& p, const std::vector<int64_t>& rows, const std::string& tag) {
    for (size_t slot : {size_t{1}, size_t{2}}) {
      if (!node.has_input(slot)) continue;
      const std::string name = names_.unique(node.input(slot) + tag);
      *model_.mutable_graph()->add_initializer() =
          onnx_io::tensor_to_proto(take_rows(*g_.weight(node.input(slot)), rows), name);
      p.set_input(static_cast<int>(slot), name);
      replaced_weights_.insert(node.input(slot));
    }
  }

  // A value_info entry for `name` like `like`'s with `channels` channels (axis 1), when the model
  // declares one.
  void declare_split(const std::string& like, const std::string& name, int64_t channels) {
    onnx::ValueInfoProto* v = declare_like(*model_.mutable_graph(), like, name);
    if (!v) return;
    auto* shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() > 1) shape->mutable_dim(1)->set_dim_value(channels);
  }

  const Graph& g_;
  onnx::ModelProto model_;
  Names names_;
  std::set<int> removed_;                                 // proto indices of the split nodes
  std::map<int, std::vector<onnx::NodeProto>> inserted_;  // after proto index
  std::set<std::string> replaced_weights_, replaced_tensors_;
};

}  // namespace

std::map<std::string, int> split_inputs(const Graph& g) {
  std::map<std::string, int> out;
  for (const Node& n : g.nodes)
    if (n.outputs.size() == 1 && find_chain(g, n.outputs[0]).conv >= 0) out[n.outputs[0]] = 1;
  return out;
}

SplitResult split_channels(const onnx::ModelProto& model, const Graph& g,
                           const std::map<std::string, std::vector<double>>& absmax, double min_gain) {
  Splitter s(model, g);
  SplitResult r;
  for (const auto& [x, a] : absmax) {  // name order: deterministic
    const double gain = a.empty() ? 0.0 : noise_gain(a);
    if (gain < min_gain) continue;
    const Chain c = find_chain(g, x);
    if (c.conv < 0 || g.weight(node_at(g, c.conv).input(1))->dim(0) != static_cast<int64_t>(a.size())) continue;
    const auto groups = channel_groups(a);
    if (groups.size() < 2) continue;
    log::debug("channel split: '", x, "' (noise gain ", gain, ") in ", groups.size(), " groups up to '",
               c.exit, "'");
    s.split(c, groups);
    ++r.convs;
    r.groups += groups.size();
  }
  r.model = s.finish();
  return r;
}

}  // namespace ptq::rewrite
