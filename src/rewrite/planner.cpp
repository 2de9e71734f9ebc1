// SPDX-License-Identifier: Apache-2.0
// plan_quantization: applies the rule table to every node and turns the rules' decisions into a
// QuantPlan (which tensors get Q/DQ, with which spec, axis, shared or derived parameters).
//
// Gate (should_quantize), per node: default ONNX domain, a row in the rule table, selected by
// --op-types, not matched by --exclude, not in the first/last layers kept float (--float-first,
// --float-last: compute-layer depth from the inputs / to the outputs), and the rule's own checks
// (float32 inputs of known type).
// Then, in topological order:
//   - activations and weights requested by the rule are registered; a tensor requested twice with a
//     different role/axis keeps the first request and the later node reads the float value;
//   - a bias is registered only when its node's activation input and weight were (scale s_x · s_w);
//   - an output with SameAsInput reuses the parameters of its data input if that input is
//     quantized — by its producer, or by some consumer's request (known from a first pass);
//   - an activation a Softmax reads is calibrated on the top of each row (calib::SoftmaxRows); when it
//     shared another tensor's parameters it gets its own instead;
//   - a removable Relu/Clip is folded: its producer's output (quantized with own parameters, read by
//     this node only, not a graph output) is renamed to the Relu/Clip output, which is calibrated;
//     with symmetric activations (or --keep-activations) the node stays and that producer output
//     reuses the Relu/Clip output's parameters instead of being calibrated itself.
// Before the rules, the pattern table (qdq_patterns.cpp) claims groups of nodes (Erf-GELU, a decomposed
// LayerNorm) whose members all pass the gate: the members read the group's inputs quantized and the last
// one writes its output quantized; inside, everything stays float. A member counts as quantized when
// the group's boundary is. Static mode only (a pattern has no weights).
// Nodes that are shape arithmetic (ir/data_flow.h) are marked, so reports count them apart.
// Dynamic mode keeps weight requests only (and, in the integer format, marks ConvInteger/MatMulInteger/
// DynamicQuantizeLSTM).
// Bodies (If/Loop/Scan): after a graph is planned, each body of each of its nodes is planned the same
// way, seeing the enclosing graphs' names through a ScopeChain (weights and types of outer-scope values);
// every tensor gets its scoped table key. --float-first/--float-last and the precision overrides apply
// to the model's graph only (they index its nodes); "nothing to quantize" counts the bodies' nodes too.
#include <fnmatch.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "patterns/patterns.h"
#include "ptq/util/error.h"
#include "ptq/util/log.h"
#include "rewrite_internal.h"
#include "rules/rules.h"

namespace ptq::rewrite {
namespace {

using Kind = TensorPlan::Kind;

// Integer ops: a model holding them is already quantized. QuantizeLinear/DequantizeLinear alone mark a
// QAT export, whose own quantization is kept (qat_reason).
const char* const kQuantizedOps[] = {"DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger"};

bool is_qdq(const Node& n) { return n.domain.empty() && (n.op_type == "QuantizeLinear" || n.op_type == "DequantizeLinear"); }

// In a graph with Q/DQ nodes (a QAT export, weights folded by fold_qat_weights), why node n is left as the
// model has it ("" when it may be planned): only the layers QAT left float are quantized, i.e. nodes
// with a float weight, no input from a weight's DequantizeLinear and no output read by a QuantizeLinear.
std::string qat_reason(const Graph& g, const Node& n) {
  for (const auto& in : n.inputs) {
    const int p = in.empty() ? -1 : g.producer(in);
    if (p >= 0 && g.nodes[static_cast<size_t>(p)].op_type == "DequantizeLinear" && g.is_weight(g.nodes[static_cast<size_t>(p)].input(0)))
      return "quantized by the model's own Q/DQ (QAT)";
  }
  for (const auto& out : n.outputs)
    for (int c : out.empty() ? std::vector<int>{} : g.consumers(out))
      if (g.nodes[static_cast<size_t>(c)].op_type == "QuantizeLinear") return "quantized by the model's own Q/DQ (QAT)";
  for (const auto& in : n.inputs) {
    const Tensor* w = in.empty() ? nullptr : g.weight(in);
    if (w && w->dtype() == DType::Float32 && w->numel() > 1) return "";
  }
  return "kept as the QAT model has it (only layers with float weights are quantized)";
}

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// Every node of the graph and of its bodies.
std::vector<const Node*> all_nodes(const Graph& g) {
  std::vector<const Node*> out;
  for (const auto& n : g.nodes) out.push_back(&n);
  for_each_subgraph(g, [&](const std::string&, const Graph& body) {
    for (const auto& n : body.nodes) out.push_back(&n);
  });
  return out;
}

void check_selection(const Graph& g, const QuantOptions& o) {
  const std::vector<const Node*> nodes = all_nodes(g);
  for (const Node* n : nodes)
    for (const char* q : kQuantizedOps)
      if (n->op_type == q)
        PTQ_FAIL(UnsupportedError, "the model is already quantized (", n->describe(), "); ptq quantizes float models");
  std::set<std::string> present;
  for (const Node* n : nodes) present.insert(n->op_type);
  for (const auto& t : o.op_types) {
    if (!find_qdq_rule(t))
      PTQ_FAIL(UsageError, "--op-types: '", t, "' is not a quantizable op type; expected some of: ", quantizable_op_types());
    if (!present.count(t)) {
      std::string have;
      for (const auto& p : present) have += (have.empty() ? "" : ", ") + p;
      PTQ_FAIL(UsageError, "--op-types: no node of the model is a ", t, " (the model has: ", have, ")");
    }
  }
  for (const auto& pattern : o.exclude) {
    bool hit = std::any_of(nodes.begin(), nodes.end(), [&](const Node* n) { return glob_match(pattern, n->name); });
    if (!hit) PTQ_FAIL(UsageError, "--exclude: '", pattern, "' matches no node name of the model");
  }
}

class Planner {
 public:
  // `chain` describes `g` and its enclosing graphs (chain.graph == &g); `parent` is the enclosing
  // graph's plan (nullptr for the model's graph).
  Planner(const Graph& g, const QuantOptions& o, const ScopeChain& chain, const QuantPlan* parent)
      : g_(g), o_(o), chain_(chain), parent_(parent), flow_(analyze_data_flow(g)),
        ctx_{g, o, parent ? &chain : nullptr, &flow_} {
    plan_.options = o;
    plan_.nodes.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) plan_.nodes[i].compute = flow_.compute[i];
    qat_ = std::any_of(g.nodes.begin(), g.nodes.end(), is_qdq);
    if (!parent) mark_edge_layers();
    else edge_float_.assign(g.nodes.size(), "");
  }

  QuantPlan run() {
    match_patterns();
    decide_all();
    for (size_t i = 0; i < g_.nodes.size(); ++i) apply(static_cast<int>(i));
    finish_patterns();
    if (!parent_) apply_edge_weights();
    if (!parent_) apply_wide();
    assign_reader_gains(g_, plan_);
    plan_bodies();
    if (!parent_ && !qat_) check_not_empty();  // a QAT export is quantized already
    return std::move(plan_);
  }

 private:
  // Rule decisions for every node (after the gate and the mode filter); `requested_` gets the
  // activations some non-removable rule quantizes.
  void decide_all() {
    decisions_.resize(g_.nodes.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      decisions_[i] = pattern_of_[i] >= 0 ? pattern_decision(static_cast<int>(i)) : decide(g_.nodes[i], plan_.nodes[i]);
      if (decisions_[i].removable) continue;
      for (const auto& in : decisions_[i].inputs)
        if (in.use == InputUse::Activation) requested_.insert(g_.nodes[i].input(in.index));
    }
  }

  // Why the node stays float whatever its rule says ("" when it may be quantized).
  std::string gate(const Node& n) const {
    if (!o_.op_types.empty() && std::find(o_.op_types.begin(), o_.op_types.end(), n.op_type) == o_.op_types.end())
      return "op type not selected by --op-types";
    for (const auto& pattern : o_.exclude)
      if (glob_match(pattern, n.name)) return "excluded by --exclude " + pattern;
    const size_t i = static_cast<size_t>(&n - g_.nodes.data());
    if (!edge_float_[i].empty()) return "excluded by " + edge_float_[i];
    if (qat_) {
      if (o_.qat_import_only) return "kept float: a QAT model's float layers are quantized from --calib";
      if (std::string why = qat_reason(g_, n); !why.empty()) return why;
    }
    if (!parent_ && o_.precision.float_nodes.count(static_cast<int>(i))) return "kept float by the precision search";
    if (!parent_ && !n.outputs.empty() && o_.kept_float.nodes_writing.count(n.outputs[0])) return "kept float between an equalized convolution and its readers";
    return "";
  }

  RuleDecision decide(const Node& n, NodePlan& np) {
    const QdqRuleEntry* row = n.domain.empty() ? find_qdq_rule(n.op_type) : nullptr;
    if (!row) return skip_node("no quantization rule for " + n.op_type);
    np.family = row->family;
    if (std::string why = gate(n); !why.empty()) return skip_node(why);
    RuleDecision d = row->rule(n, ctx_);
    if (!d.skip.empty()) return d;
    if (o_.mode == QuantMode::Static) {
      d.integer = IntegerForm::None;
      return d;
    }
    RuleDecision dyn;  // dynamic: weights only, and only those quantization compresses
    bool scalar_scales = false;
    for (const auto& in : d.inputs) {
      if (in.use != InputUse::Weight) continue;
      if (one_value_per_scale(n.input(in.index), in)) scalar_scales = true;
      else dyn.inputs.push_back(in);
    }
    if (o_.dynamic_format == DynamicFormat::Integer) dyn.integer = d.integer;
    if (dyn.inputs.empty())
      dyn.skip = scalar_scales ? "dynamic mode: its weights would get one scale per value (nothing to compress)"
                               : "dynamic mode quantizes constant weights only";
    return dyn;
  }

  // A weight whose per-channel parameters would each cover a single value (LayerNormalization's γ, a
  // per-channel scale vector): an int8 value plus a float scale per element is no smaller than float.
  bool one_value_per_scale(const std::string& name, const InputDecision& in) const {
    const Tensor* w = ctx_.weight(name);
    if (!w || !o_.per_channel || in.axis < 0 || in.axis >= w->rank()) return false;
    if (o_.block_size > 0 && in.block_axis >= 0) return false;
    return w->dim(in.axis) == w->numel();
  }

  // Claims the nodes of every pattern match whose members all pass the gate (static mode only).
  void match_patterns() {
    pattern_of_.assign(g_.nodes.size(), -1);
    if (o_.mode != QuantMode::Static) return;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      for (const auto& row : qdq_pattern_table()) {
        const Node& n = g_.nodes[i];
        if (pattern_of_[i] >= 0 || !n.domain.empty() || n.op_type != row.anchor) continue;
        PatternMatch m;
        if (!row.match(g_, static_cast<int>(i), m)) continue;
        bool free = ctx_.is_float(m.output);
        for (int k : m.nodes) free &= pattern_of_[static_cast<size_t>(k)] < 0;
        for (const auto& in : m.inputs) free &= ctx_.is_float(in);
        if (!free) continue;
        std::string gated;  // a member kept float keeps the whole group float (never its internals alone)
        for (int k : m.nodes)
          if (gated.empty()) gated = gate(g_.nodes[static_cast<size_t>(k)]);
        for (int k : m.nodes) {
          pattern_of_[static_cast<size_t>(k)] = static_cast<int>(patterns_.size());
          plan_.nodes[static_cast<size_t>(k)].family = plan_.nodes[static_cast<size_t>(k)].pattern = row.name;
        }
        pattern_gate_.push_back(gated);
        patterns_.push_back(std::move(m));
      }
  }

  // A member's share of its pattern's decision: the group's inputs it reads, the group's output if it writes it.
  RuleDecision pattern_decision(int i) const {
    const size_t p = static_cast<size_t>(pattern_of_[static_cast<size_t>(i)]);
    if (!pattern_gate_[p].empty()) return skip_node(pattern_gate_[p] + " (a member of its " + plan_.nodes[static_cast<size_t>(i)].pattern + " pattern)");
    const PatternMatch& m = patterns_[p];
    const Node& n = g_.nodes[static_cast<size_t>(i)];
    RuleDecision d;
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (std::find(m.inputs.begin(), m.inputs.end(), n.inputs[k]) != m.inputs.end()) d.inputs.push_back({k, InputUse::Activation});
    for (size_t k = 0; k < n.outputs.size(); ++k)
      if (n.outputs[k] == m.output) d.outputs.push_back({k, OutputUse::Own});
    return d;
  }

  // Members count as quantized when their group's output is.
  void finish_patterns() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (pattern_of_[i] < 0) continue;
      const PatternMatch& m = patterns_[static_cast<size_t>(pattern_of_[i])];
      const TensorPlan* out = find(m.output);
      NodePlan& np = plan_.nodes[i];
      if (!pattern_gate_[static_cast<size_t>(pattern_of_[i])].empty()) continue;
      np.quantized = out && out->kind == Kind::Activation;
      np.reason = np.quantized ? "" : "its " + np.pattern + " pattern's output could not be quantized";
    }
  }

  void apply(int i) {
    NodePlan& np = plan_.nodes[static_cast<size_t>(i)];
    const RuleDecision& d = decisions_[static_cast<size_t>(i)];
    if (!d.skip.empty()) {
      np.reason = d.skip;
      return;
    }
    if (d.removable && try_fold(i)) return;
    const IntegerForm integer = integer_form(i, d);
    bool any = false;
    for (const auto& in : d.inputs)
      if (in.use != InputUse::Bias) any |= add_input(i, in, integer);
    for (const auto& in : d.inputs)
      if (in.use == InputUse::Bias) any |= add_bias(i, in);
    for (const auto& out : d.outputs) any |= add_output(i, out);
    np.quantized = any;
    if (!any) np.reason = "none of its tensors could be quantized";
  }

  bool add_input(int i, const InputDecision& in, IntegerForm integer) {
    const Node& n = g_.nodes[static_cast<size_t>(i)];
    const std::string& name = n.input(in.index);
    if (in.use == InputUse::Activation) {
      if (!add_activation(name)) return false;
      if (in.softmax.on) window_softmax_input(name, in.softmax);
      return true;
    }
    const bool as_integer = is_integer_weight_input(integer, in.index);
    if (!add_weight(name, in.axis, in.block_axis, i, as_integer)) return false;
    if (as_integer) plan_.nodes[static_cast<size_t>(i)].integer = integer;
    return true;
  }

  bool add_activation(const std::string& name) {
    if (name.empty() || (!parent_ && (o_.precision.float_tensors.count(name) || o_.kept_float.tensors.count(name)))) return false;
    auto it = plan_.tensors.find(name);
    if (it != plan_.tensors.end()) return it->second.kind == Kind::Activation;
    bool is_input = std::any_of(g_.inputs.begin(), g_.inputs.end(), [&](const ValueInfo& v) { return v.name == name; });
    if (is_input && g_.is_graph_output(name)) return false;
    if (ctx_.dtype(name) != DType::Float32) return false;
    TensorPlan t;
    t.tensor = name;
    t.kind = Kind::Activation;
    t.spec = activation_spec(o_);
    t.constant = ctx_.is_weight(name);
    t.key = chain_.key(name);
    if (parent_ && !chain_.defines(name) && !outer_activation(t)) return false;
    plan_.tensors[name] = t;
    return true;
  }

  // Blocked (block_size > 0 and the rule names a block axis): along block_axis instead of per channel.
  bool add_weight(const std::string& name, int axis, int block_axis, int node, bool integer) {
    const Tensor* w = ctx_.weight(name);
    if (!w || w->dtype() != DType::Float32) return false;
    const auto& pc_ops = o_.per_channel_ops;
    const std::string& op = g_.nodes[static_cast<size_t>(node)].op_type;
    if (!o_.per_channel || axis >= w->rank() ||
        (!pc_ops.empty() && std::find(pc_ops.begin(), pc_ops.end(), std::make_pair(op, axis)) == pc_ops.end()))
      axis = -1;
    const int64_t block = o_.block_size > 0 && block_axis >= 0 && block_axis < w->rank() ? o_.block_size : 0;
    if (block > 0) axis = block_axis;
    auto it = plan_.tensors.find(name);
    if (it != plan_.tensors.end()) {
      TensorPlan& t = it->second;
      if (t.kind != Kind::Weight || t.axis != axis || t.block != block || t.integer != integer) {
        log::debug("weight '", name, "' is already quantized differently; ", g_.nodes[static_cast<size_t>(node)].describe(),
                   " reads it in float");
        return false;
      }
      t.readers.push_back(node);
      return true;
    }
    TensorPlan t;
    t.tensor = name;
    t.kind = Kind::Weight;
    t.spec = weight_spec(o_);
    t.axis = axis;
    t.block = block;
    t.constant = true;
    t.integer = integer;
    t.readers = {node};
    t.key = chain_.key(name);
    plan_.tensors[name] = t;
    return true;
  }

  // A Softmax input: calibrated on the top of each row, with its own parameters.
  void window_softmax_input(const std::string& name, const calib::SoftmaxRows& rows) {
    TensorPlan& t = plan_.tensors[name];
    if (t.constant || t.fixed) return;
    if (!t.params_from.empty()) {
      log::debug("Softmax input '", name, "' gets its own parameters instead of '", t.params_from, "''s (softmax rows)");
      t.params_from.clear();
    }
    t.softmax = rows;
  }


  // The integer form node i is emitted in: the rule's, when every weight that form reads as integer can
  // be planned as one (not already planned by another reader), else none (the node is emitted with DQs).
  IntegerForm integer_form(int i, const RuleDecision& d) const {
    if (d.integer != IntegerForm::DynamicQuantizeLSTM) return d.integer;
    const Node& n = g_.nodes[static_cast<size_t>(i)];
    for (const auto& in : d.inputs)
      if (is_integer_weight_input(d.integer, in.index) && find(n.input(in.index))) return IntegerForm::None;
    return d.integer;
  }

  // An activation read from an enclosing graph: quantized inside this body with the enclosing graph's
  // spec when that graph quantizes it too (the same parameters on both sides), else calibrated under
  // its key in the enclosing graph. False when the enclosing graph keeps it float on purpose (a
  // constant or a tensor the parent planned as a weight or bias).
  bool outer_activation(TensorPlan& t) const {
    auto it = parent_->tensors.find(t.tensor);
    if (it == parent_->tensors.end()) return true;
    if (it->second.kind != Kind::Activation) return false;
    t.spec = it->second.spec;
    return true;
  }

  void plan_bodies();
  bool add_bias(int i, const InputDecision& in);
  bool add_output(int i, const OutputDecision& out);
  void apply_edge_weights();
  void apply_wide();
  bool try_fold(int i);
  void check_not_empty() const;

  const TensorPlan* find(const std::string& name) const {
    auto it = plan_.tensors.find(name);
    return it == plan_.tensors.end() ? nullptr : &it->second;
  }
  std::string root_of(const std::string& name) const {
    std::string r = name;
    for (const TensorPlan* t = find(r); t && !t->params_from.empty(); t = find(r)) r = t->params_from;
    return r;
  }

  // Whether node i is among the first `first` / last `last` compute layers (layer_depths; 0: none): what
  // --float-first/--float-last and --int8-first/--int8-last count alike.
  enum class Edge { None, First, Last };
  Edge edge_of(size_t i, int first, int last) {
    if (!depths_) depths_ = layer_depths(g_);
    if (first > 0 && depths_->from_inputs[i] <= first) return Edge::First;
    if (last > 0 && depths_->to_outputs[i] <= last) return Edge::Last;
    return Edge::None;
  }

  // edge_float_[i]: why node i stays float as part of the first/last compute layers ("" if not).
  void mark_edge_layers() {
    edge_float_.assign(g_.nodes.size(), "");
    if (o_.float_first <= 0 && o_.float_last <= 0) return;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Edge e = edge_of(i, o_.float_first, o_.float_last);
      if (e == Edge::First) edge_float_[i] = "--float-first " + std::to_string(o_.float_first);
      if (e == Edge::Last) edge_float_[i] = "--float-last " + std::to_string(o_.float_last);
    }
  }

  const Graph& g_;
  const QuantOptions& o_;
  const ScopeChain& chain_;
  const QuantPlan* parent_;
  DataFlow flow_;
  RuleContext ctx_;
  std::vector<PatternMatch> patterns_;
  std::vector<std::string> pattern_gate_;  // per pattern: why it stays float ("" when it may be quantized)
  std::vector<int> pattern_of_;  // per node: index into patterns_, -1 when not a member
  std::vector<std::string> edge_float_;
  std::optional<LayerDepths> depths_;  // computed on first use (edge_of)
  bool qat_ = false;  // the graph has Q/DQ nodes of its own
  QuantPlan plan_;
  std::vector<RuleDecision> decisions_;
  std::set<std::string> requested_;
  std::set<std::string> own_outputs_;  // outputs quantized with own parameters by their producer
};

// Bias: int32 with scale s_x · s_w. Per-channel weights need a bias with one value per output channel
// along its axis (1-D: axis 0; Gemm's [1,N]/[M,N]: axis 1); ConvTranspose with groups has M = group ·
// (weight channels), channel o using weight channel o mod (weight channels).
bool Planner::add_bias(int i, const InputDecision& in) {
  const Node& n = g_.nodes[static_cast<size_t>(i)];
  if (!o_.quantize_bias || o_.mode != QuantMode::Static) return false;
  const std::string &name = n.input(in.index), &x = n.input(in.bias_input), &w = n.input(in.bias_weight);
  const TensorPlan *tx = find(x), *tw = find(w);
  if (!tx || tx->kind != Kind::Activation || !tw || tw->kind != Kind::Weight) return false;
  if (std::find(tw->readers.begin(), tw->readers.end(), i) == tw->readers.end()) return false;
  const Tensor* b = ctx_.weight(name);
  if (!b || b->dtype() != DType::Float32) return false;
  int axis = -1;
  if (tw->axis >= 0) {
    axis = b->rank() - 1;
    const int64_t wc = ctx_.weight(w)->dim(tw->axis);
    if (b->rank() < 1 || b->rank() > 2 || b->dim(axis) % wc != 0 || (b->rank() == 2 && b->dim(0) != 1)) {
      log::debug(n.describe(), ": bias '", name, "' shape ", shape_str(b->shape()), " does not match per-channel weights; kept float");
      return false;
    }
  }
  if (const TensorPlan* prev = find(name)) {
    if (prev->kind != Kind::Bias || prev->bias_input != x || prev->bias_weight != w) return false;
    plan_.tensors[name].readers.push_back(i);
    return true;
  }
  TensorPlan t;
  t.tensor = name;
  t.kind = Kind::Bias;
  t.spec.type = QType::Int32;
  t.spec.symmetric = true;
  t.axis = axis;
  t.constant = true;
  t.bias_input = x;
  t.bias_weight = w;
  t.readers = {i};
  t.key = chain_.key(name);
  plan_.tensors[name] = t;
  return true;
}

// Plans every body of every node, each with this plan as its parent.
void Planner::plan_bodies() {
  for (size_t i = 0; i < g_.nodes.size(); ++i) {
    const Node& n = g_.nodes[i];
    for (const auto& [attr, a] : n.attrs) {
      if (!a.g) continue;
      ScopeChain inner{a.g.get(), &chain_, chain_.prefix + subgraph_scope(n, attr)};
      auto body = std::make_shared<QuantPlan>(Planner(*a.g, o_, inner, &plan_).run());
      plan_.subgraphs.push_back(SubgraphPlan{static_cast<int>(i), attr, inner.prefix, std::move(body)});
    }
  }
}

bool Planner::add_output(int i, const OutputDecision& out) {
  const Node& n = g_.nodes[static_cast<size_t>(i)];
  const std::string& name = n.outputs[out.index];
  if (out.use == OutputUse::Own) {
    if (!add_activation(name)) return false;
    own_outputs_.insert(name);
    if (out.fixed) {
      plan_.tensors[name].fixed = true;
      plan_.tensors[name].range = out.range;
    }
    return true;
  }
  const std::string& in = n.input(out.input);
  const TensorPlan* t = find(in);
  bool quantized = t ? t->kind == Kind::Activation : requested_.count(in) != 0;
  if (!quantized || !add_activation(in) || !add_activation(name)) return false;
  plan_.tensors[name].params_from = root_of(in);
  return true;
}

bool Planner::try_fold(int i) {
  const Node& n = g_.nodes[static_cast<size_t>(i)];
  const std::string &c = n.input(0), &r = n.outputs[0];
  const TensorPlan* tc = find(c);
  if (!tc || !own_outputs_.count(c) || tc->constant || !tc->params_from.empty()) return false;
  if (g_.consumers(c) != std::vector<int>{i} || g_.is_graph_output(c) || find(r)) return false;
  for (const auto& [name, t] : plan_.tensors)
    if (t.params_from == c || t.bias_input == c) return false;
  NodePlan& np = plan_.nodes[static_cast<size_t>(i)];
  if (o_.symmetric_activations || o_.keep_removable_activations) {
    // The node stays, but its input takes the parameters calibrated on its output: the wide
    // pre-activation range is never calibrated (a symmetric grid over it would waste most codes),
    // and whatever the quantizer saturates the Relu/Clip clamps anyway.
    if (!add_activation(r)) return false;
    own_outputs_.erase(c);
    own_outputs_.insert(r);
    plan_.tensors[c].params_from = r;
    np.quantized = true;
    return true;
  }
  plan_.tensors.erase(c);
  own_outputs_.erase(c);
  if (!add_activation(r)) return false;
  own_outputs_.insert(r);
  bool chained = false;
  for (auto& [from, to] : plan_.renamed)
    if (to == c) to = r, chained = true;
  if (!chained) plan_.renamed[c] = r;
  np.removed = true;
  np.reason = "folded into the producer's quantization range";
  return true;
}

// 4-bit weights: those read by the first / last compute layers (int8_edges) get 8 bits. Before the
// precision overrides, which may widen them further.
void Planner::apply_edge_weights() {
  const EdgeLayers edges = int8_edges(o_);
  if (!edges.any()) return;
  const auto edge = [&](int i) {
    return edge_of(static_cast<size_t>(i), edges.first, edges.last) != Edge::None ||
           (edges.embeddings && g_.nodes[static_cast<size_t>(i)].op_type == "Gather");
  };
  for (auto& [name, t] : plan_.tensors)
    if (t.kind == Kind::Weight && std::any_of(t.readers.begin(), t.readers.end(), edge)) t.spec = edge_weight_spec(o_);
}

// Precision overrides, wide: the listed tensors and the weights of the listed nodes, with every tensor
// sharing their parameters, get the 16-bit specs. Biases stay int32 with scale s_x·s_w (resolve_params
// enlarges a weight scale where that would overflow): a float bias behind DQ'd inputs is what ONNX
// Runtime's BiasQuantization rewrites itself, with an int32 cast that overflows on 16-bit scales and, below
// opset 13, a DequantizeLinear axis the opset does not have.
void Planner::apply_wide() {
  const PrecisionOverrides& pr = o_.precision;
  if (pr.wide_nodes.empty() && pr.wide_tensors.empty()) return;
  std::set<std::string> roots;
  for (const auto& t : pr.wide_tensors)
    if (find(t)) roots.insert(root_of(t));
  for (const auto& [name, t] : plan_.tensors)
    if (t.kind == Kind::Weight)
      for (int r : t.readers)
        if (pr.wide_nodes.count(r)) roots.insert(name);
  for (auto& [name, t] : plan_.tensors) {
    if (t.kind == Kind::Bias || !roots.count(root_of(name))) continue;
    t.spec = t.kind == Kind::Weight ? wide_weight_spec(o_) : wide_activation_spec(o_);
  }
}

// Calls fn(node, node plan) for every node of `g` and of its bodies (plan: the plan of `g`).
void each_planned_node(const Graph& g, const QuantPlan& plan, const std::function<void(const Node&, const NodePlan&)>& fn) {
  for (size_t i = 0; i < g.nodes.size(); ++i) fn(g.nodes[i], plan.nodes[i]);
  for (const auto& sp : plan.subgraphs)
    each_planned_node(*g.nodes[static_cast<size_t>(sp.node)].attrs.at(sp.attr).g, *sp.plan, fn);
}

void Planner::check_not_empty() const {
  if (plan_.quantized_node_count() > 0) return;
  size_t ruled = 0, excluded = 0, filtered = 0;
  std::string first_reason;
  each_planned_node(g_, plan_, [&](const Node& n, const NodePlan& np) {
    if (np.family.empty()) return;
    ++ruled;
    excluded += np.reason.rfind("excluded", 0) == 0;
    filtered += np.reason.rfind("op type not selected", 0) == 0;
    if (first_reason.empty()) first_reason = n.describe() + ": " + np.reason;
  });
  if (ruled > 0 && excluded == ruled) {
    if (o_.float_first <= 0 && o_.float_last <= 0)
      PTQ_FAIL(UsageError, "nothing to quantize: --exclude matches every quantizable node (", ruled, ")");
    PTQ_FAIL(UsageError, "nothing to quantize: --float-first/--float-last", o_.exclude.empty() ? "" : " and --exclude",
             " leave every quantizable node (", ruled, ") float");
  }
  if (ruled > 0 && excluded + filtered == ruled)
    PTQ_FAIL(UsageError, "nothing to quantize: --op-types and --exclude leave no quantizable node");
  PTQ_FAIL(UnsupportedError, "nothing to quantize in ", quant_mode_name(o_.mode), " mode: no node can be quantized",
           first_reason.empty() ? " (no op type of the model has a rule; quantizable: " + quantizable_op_types() + ")"
                                : " (" + first_reason + ")");
}

}  // namespace

LayerDepths layer_depths(const Graph& g) {
  auto is_compute = [&](const Node& n) {
    return n.domain.empty() && (n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" || n.op_type == "MatMul");
  };
  const size_t count = g.nodes.size();
  LayerDepths d{std::vector<int>(count, 0), std::vector<int>(count, 0)};
  for (size_t i = 0; i < count; ++i) {  // topological order
    for (const auto& in : g.nodes[i].inputs)
      if (int p = in.empty() ? -1 : g.producer(in); p >= 0) d.from_inputs[i] = std::max(d.from_inputs[i], d.from_inputs[static_cast<size_t>(p)]);
    d.from_inputs[i] += is_compute(g.nodes[i]);
  }
  for (size_t i = count; i-- > 0;) {
    for (const auto& out : g.nodes[i].outputs)
      if (!out.empty())
        for (int c : g.consumers(out)) d.to_outputs[i] = std::max(d.to_outputs[i], d.to_outputs[static_cast<size_t>(c)]);
    d.to_outputs[i] += is_compute(g.nodes[i]);
  }
  return d;
}

QuantPlan plan_quantization(const Graph& graph, const QuantOptions& options) {
  validate_options(options);
  check_selection(graph, options);
  const ScopeChain top{&graph, nullptr, ""};
  return Planner(graph, options, top, nullptr).run();
}

}  // namespace ptq::rewrite
