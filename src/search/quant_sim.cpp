// SPDX-License-Identifier: Apache-2.0
// QuantSim (see quant_sim.h). Each node input is bound once to how its reader sees it (a Use): raw, an
// activation group's fq (computed per read), a constant's precomputed fq, a weight's or a bias's
// precomputed fq. Runs go node by node through Executor::run_node, keeping every output.
#include "ptq/search/quant_sim.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "ptq/quant/scale.h"
#include "ptq/util/error.h"

namespace ptq::search {
namespace {

using Kind = rewrite::TensorPlan::Kind;

struct Use {
  enum class What { Raw, Activation, Constant, Weight, Bias } what = What::Raw;
  int group = -1, group2 = -1;        // Bias: on when both are
  const QParams* params = nullptr;    // Activation
  const Tensor* value = nullptr;      // Constant, Weight, Bias: the precomputed fq
};

bool use_on(const Use& u, const GroupFlags& on) {
  switch (u.what) {
    case Use::What::Raw: return false;
    case Use::What::Bias: return on[static_cast<size_t>(u.group)] && on[static_cast<size_t>(u.group2)];
    default: return on[static_cast<size_t>(u.group)] != 0;
  }
}

}  // namespace

struct QuantSim::Impl {
  const Graph& g;
  exec::Executor ex;
  std::unordered_map<std::string, int> slot;                 // graph inputs and node outputs
  std::vector<std::vector<int>> in_slots;                     // per node and input: slot, -1 weight/omitted
  std::vector<std::vector<Use>> uses;                         // per node and input
  std::vector<std::vector<int>> watch;                        // per node: slots whose change re-runs it
  std::vector<std::vector<int>> dead_after;                   // per node: slots no later node reads
  std::unordered_map<std::string, int> group_of;
  size_t groups = 0;
  std::vector<std::string> group_root;                        // per group: its root tensor (or weight)
  std::vector<std::vector<int>> affected;                     // per group: nodes whose view changes
  std::map<std::string, QParams> params;
  std::map<std::string, Tensor> precomputed;                  // fq of constants, weights, biases
  std::set<std::string> biases;                               // the precomputed biases
  struct Output { std::string name; int slot; Use use; };
  std::vector<Output> outputs;

  Impl(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& p, int threads)
      : g(graph), ex(graph, exec::ExecOptions{threads, false, false, false}), params(p) {
    for (const auto& in : g.inputs) slot.emplace(in.name, static_cast<int>(slot.size()));
    for (const auto& n : g.nodes)
      for (const auto& o : n.outputs)
        if (!o.empty()) slot.emplace(o, static_cast<int>(slot.size()));
    make_groups(plan);
    bind(plan);
  }

  void make_groups(const rewrite::QuantPlan& plan) {
    auto root = [&](std::string r) {
      for (auto it = plan.tensors.find(r); it != plan.tensors.end() && !it->second.params_from.empty(); it = plan.tensors.find(r))
        r = it->second.params_from;
      return r;
    };
    std::map<std::string, int> root_group;
    for (const auto& [name, t] : plan.tensors) {
      if (t.kind == Kind::Bias) continue;
      const std::string r = t.kind == Kind::Activation ? root(name) : name;
      auto it = root_group.find(r);
      if (it == root_group.end()) {
        it = root_group.emplace(r, static_cast<int>(groups++)).first;
        group_root.push_back(r);
      }
      group_of[name] = it->second;
    }
    affected.assign(groups, {});
  }

  // The Use of `tensor` for its reader `node`.
  Use use_of(const rewrite::QuantPlan& plan, int node, const std::string& tensor) {
    Use u;
    auto it = plan.tensors.find(tensor);
    if (it == plan.tensors.end() || it->second.integer) return u;
    const rewrite::TensorPlan& t = it->second;
    const bool reads = t.kind == Kind::Activation || std::count(t.readers.begin(), t.readers.end(), node) > 0;
    if (!reads) return u;
    if (t.kind == Kind::Bias) {
      auto in = group_of.find(t.bias_input), w = group_of.find(t.bias_weight);
      if (in == group_of.end() || w == group_of.end()) return u;
      u.what = Use::What::Bias;
      u.group = in->second;
      u.group2 = w->second;
    } else {
      u.group = group_of.at(tensor);
      u.what = t.kind == Kind::Weight ? Use::What::Weight : t.constant ? Use::What::Constant : Use::What::Activation;
    }
    if (u.what == Use::What::Activation) {
      u.params = &params.at(tensor);
      return u;
    }
    auto pre = precomputed.find(tensor);
    if (pre == precomputed.end()) {
      if (t.kind == Kind::Bias) biases.insert(tensor);
      pre = precomputed.emplace(tensor, quantized_constant(tensor)).first;
    }
    u.value = &pre->second;
    return u;
  }

  // What the planned readers of a constant see: fq(w), or the int32 bias dequantized.
  Tensor quantized_constant(const std::string& tensor) const {
    const Tensor& w = *g.weight(tensor);
    const QParams& p = params.at(tensor);
    return biases.count(tensor) ? dequantize_tensor(rewrite::quantize_bias(w, p, tensor), p) : fake_quantize(w, p);
  }

  void bind(const rewrite::QuantPlan& plan) {
    const size_t n = g.nodes.size();
    in_slots.resize(n);
    uses.resize(n);
    watch.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const Node& node = g.nodes[i];
      for (const auto& in : node.inputs) {
        auto s = in.empty() ? slot.end() : slot.find(in);
        in_slots[i].push_back(s == slot.end() ? -1 : s->second);
        if (s != slot.end()) watch[i].push_back(s->second);
        uses[i].push_back(in.empty() ? Use{} : use_of(plan, static_cast<int>(i), in));
        const Use& u = uses[i].back();
        if (u.group >= 0) affected[static_cast<size_t>(u.group)].push_back(static_cast<int>(i));
        if (u.group2 >= 0) affected[static_cast<size_t>(u.group2)].push_back(static_cast<int>(i));
      }
      for (const auto& in : node.implicit_inputs)
        if (auto s = slot.find(in); s != slot.end()) watch[i].push_back(s->second);
    }
    std::vector<int> last(slot.size(), -1);
    for (size_t i = 0; i < n; ++i)
      for (int s : watch[i]) last[static_cast<size_t>(s)] = static_cast<int>(i);
    for (const auto& o : g.outputs)
      if (auto s = slot.find(o.name); s != slot.end()) last[static_cast<size_t>(s->second)] = static_cast<int>(n);
    dead_after.resize(n);
    for (size_t s = 0; s < last.size(); ++s)
      if (last[s] >= 0 && last[s] < static_cast<int>(n)) dead_after[static_cast<size_t>(last[s])].push_back(static_cast<int>(s));
    for (const auto& o : g.outputs) {
      auto s = slot.find(o.name);
      Use u;
      auto it = plan.tensors.find(o.name);
      if (it != plan.tensors.end() && it->second.kind == Kind::Activation && !it->second.constant) {
        u.what = Use::What::Activation;
        u.group = group_of.at(o.name);
        u.params = &params.at(o.name);
      }
      outputs.push_back({o.name, s == slot.end() ? -1 : s->second, u});
    }
  }

  // Resolves names to the values of a run: the overlay where it changed, else the base.
  class Frame : public exec::Scope {
   public:
    Frame(const Impl& impl, const std::vector<Tensor>& base, const std::vector<Tensor>* overlay, const std::vector<char>* changed)
        : impl_(impl), base_(base), overlay_(overlay), changed_(changed) {}
    const Tensor* at(int s) const {
      const size_t k = static_cast<size_t>(s);
      return overlay_ && (*changed_)[k] ? &(*overlay_)[k] : &base_[k];
    }
    const Tensor* lookup(const std::string& name) const override {
      auto it = impl_.slot.find(name);
      if (it != impl_.slot.end()) return at(it->second);
      return impl_.g.weight(name);
    }

   private:
    const Impl& impl_;
    const std::vector<Tensor>& base_;
    const std::vector<Tensor>* overlay_;
    const std::vector<char>* changed_;
  };

  // Input k of node i as the node reads it: the raw value, a precomputed fq, or fq computed into scratch.
  const Tensor* view(size_t i, size_t k, const Frame& frame, const GroupFlags& on, Tensor& scratch) const {
    const Node& node = g.nodes[i];
    const std::string& name = node.inputs[k];
    const int s = in_slots[i][k];
    const Tensor* raw = s >= 0 ? frame.at(s) : g.weight(name);
    if (!raw) PTQ_FAIL(ModelError, node.describe(), ": input '", name, "' is not available");
    const Use& u = uses[i][k];
    if (!use_on(u, on)) return raw;
    if (u.what != Use::What::Activation) return u.value;
    if (raw->dtype() != DType::Float32) return raw;
    scratch = fake_quantize(*raw, *u.params);
    return &scratch;
  }

  std::vector<Tensor> run_node(size_t i, const Frame& frame, const GroupFlags& on) const {
    const Node& node = g.nodes[i];
    std::vector<const Tensor*> ptrs(node.inputs.size(), nullptr);
    std::vector<Tensor> scratch(node.inputs.size());
    for (size_t k = 0; k < node.inputs.size(); ++k)
      if (!node.inputs[k].empty()) ptrs[k] = view(i, k, frame, on, scratch[k]);
    return ex.run_node(i, ptrs, &frame);
  }

  Trace start(const exec::TensorMap& inputs) const;
  // Runs nodes [t.next, end); with free_dead, drops the tensors no later node (or output) reads.
  void step(Trace& t, const GroupFlags& on, size_t end, bool free_dead) const;

  exec::TensorMap collect(const Frame& frame, const GroupFlags& on) const {
    exec::TensorMap out;
    for (const auto& o : outputs) {
      const Tensor* v = o.slot >= 0 ? frame.at(o.slot) : g.weight(o.name);
      if (!v || !v->defined()) PTQ_FAIL(ModelError, "graph output '", o.name, "' was not computed");
      out[o.name] = use_on(o.use, on) && v->dtype() == DType::Float32 ? fake_quantize(*v, *o.use.params) : *v;
    }
    return out;
  }
};

QuantSim::QuantSim(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params, int threads)
    : impl_(std::make_unique<Impl>(graph, plan, params, threads)) {}

QuantSim::~QuantSim() = default;

size_t QuantSim::groups() const { return impl_->groups; }

int QuantSim::group_of(const std::string& tensor) const {
  auto it = impl_->group_of.find(tensor);
  return it == impl_->group_of.end() ? -1 : it->second;
}

Trace QuantSim::run(const exec::TensorMap& inputs, const GroupFlags& on) const {
  Trace t = impl_->start(inputs);
  impl_->step(t, on, impl_->g.nodes.size(), false);
  return t;
}

exec::TensorMap QuantSim::run_outputs(const exec::TensorMap& inputs, const GroupFlags& on) const {
  Trace t = impl_->start(inputs);
  impl_->step(t, on, impl_->g.nodes.size(), true);
  return impl_->collect(Impl::Frame(*impl_, t.values, nullptr, nullptr), on);
}

Trace QuantSim::Impl::start(const exec::TensorMap& inputs) const {
  Trace t;
  t.values.assign(slot.size(), Tensor());
  for (const auto& in : g.inputs) {
    auto it = inputs.find(in.name);
    if (it == inputs.end()) PTQ_FAIL(DataError, "missing input '", in.name, "'");
    exec::check_input(in, it->second, "");
    t.values[static_cast<size_t>(slot.at(in.name))] = it->second;
  }
  return t;
}

void QuantSim::Impl::step(Trace& t, const GroupFlags& on, size_t end, bool free_dead) const {
  Impl::Frame frame(*this, t.values, nullptr, nullptr);
  for (size_t i = t.next; i < end; ++i) {
    std::vector<Tensor> outs = run_node(i, frame, on);
    const Node& node = g.nodes[i];
    for (size_t k = 0; k < node.outputs.size() && k < outs.size(); ++k)
      if (!node.outputs[k].empty()) t.values[static_cast<size_t>(slot.at(node.outputs[k]))] = std::move(outs[k]);
    if (free_dead)
      for (int s : dead_after[i]) t.values[static_cast<size_t>(s)] = Tensor();
  }
  t.next = std::max(t.next, end);
}

Trace QuantSim::start(const exec::TensorMap& inputs) const { return impl_->start(inputs); }

void QuantSim::advance(Trace& trace, const GroupFlags& on, size_t end) const {
  PTQ_CHECK(end <= impl_->g.nodes.size());
  impl_->step(trace, on, end, true);
}

Tensor QuantSim::input(const Trace& trace, size_t node, size_t k, const GroupFlags& on) const {
  PTQ_CHECK(node < impl_->g.nodes.size() && k < impl_->g.nodes[node].inputs.size() && trace.next <= node);
  Tensor scratch;
  const Tensor* v = impl_->view(node, k, Impl::Frame(*impl_, trace.values, nullptr, nullptr), on, scratch);
  return v == &scratch ? std::move(scratch) : *v;
}

void QuantSim::update_weight(const std::string& name) {
  auto it = impl_->precomputed.find(name);
  if (it != impl_->precomputed.end()) it->second = impl_->quantized_constant(name);
}

void QuantSim::update_weight(const std::string& name, const QParams& p) {
  auto it = impl_->params.find(name);
  PTQ_CHECK(it != impl_->params.end());
  it->second = p;  // in place: the readers' uses point at it
  update_weight(name);
}

exec::TensorMap QuantSim::outputs(const Trace& trace, const GroupFlags& on) const {
  return impl_->collect(Impl::Frame(*impl_, trace.values, nullptr, nullptr), on);
}

exec::TensorMap QuantSim::rerun(const Trace& base, const GroupFlags& on, const std::vector<size_t>& flip) const {
  const Impl& m = *impl_;
  GroupFlags now = on;
  const size_t n = m.g.nodes.size();
  std::vector<char> dirty(n, 0);
  size_t first = n;
  for (size_t grp : flip) {
    now[grp] = !now[grp];
    for (int node : m.affected[grp]) {
      dirty[static_cast<size_t>(node)] = 1;
      first = std::min(first, static_cast<size_t>(node));
    }
  }
  std::vector<Tensor> overlay(base.values.size());
  std::vector<char> changed(base.values.size(), 0);
  Impl::Frame frame(m, base.values, &overlay, &changed);
  for (size_t i = first; i < n; ++i) {
    bool run = dirty[i];
    for (size_t k = 0; k < m.watch[i].size() && !run; ++k) run = changed[static_cast<size_t>(m.watch[i][k])];
    if (!run) continue;
    std::vector<Tensor> outs = m.run_node(i, frame, now);
    const Node& node = m.g.nodes[i];
    for (size_t k = 0; k < node.outputs.size() && k < outs.size(); ++k) {
      if (node.outputs[k].empty()) continue;
      const size_t s = static_cast<size_t>(m.slot.at(node.outputs[k]));
      overlay[s] = std::move(outs[k]);
      changed[s] = 1;
    }
  }
  return m.collect(frame, now);
}

QuantSim::Noise QuantSim::group_noise(const Trace& trace, size_t group) const {
  const Impl& m = *impl_;
  PTQ_CHECK(group < m.groups);
  const std::string& name = m.group_root[group];
  auto p = m.params.find(name);
  if (p == m.params.end()) return {};
  const Tensor* x = nullptr;
  if (auto s = m.slot.find(name); s != m.slot.end()) x = &trace.values[static_cast<size_t>(s->second)];
  else x = m.g.weight(name);
  if (!x || !x->defined() || x->dtype() != DType::Float32) return {};
  auto pre = m.precomputed.find(name);
  const Tensor fq = pre != m.precomputed.end() ? pre->second : fake_quantize(*x, p->second);
  Noise n;
  const float* a = x->data<float>();
  const float* b = fq.data<float>();
  for (int64_t i = 0; i < x->numel(); ++i) {
    const double d = static_cast<double>(b[i]) - a[i];
    n.noise += d * d;
    n.signal += static_cast<double>(a[i]) * a[i];
  }
  return n;
}

const Shape* QuantSim::shape(const Trace& trace, const std::string& tensor) const {
  auto it = impl_->slot.find(tensor);
  if (it == impl_->slot.end()) return nullptr;
  const Tensor& t = trace.values[static_cast<size_t>(it->second)];
  return t.defined() ? &t.shape() : nullptr;
}

}  // namespace ptq::search
