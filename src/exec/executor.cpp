// SPDX-License-Identifier: Apache-2.0
#include "ptq/exec/executor.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "fusion.h"
#include "kernels/dnnl_conv.h"
#include "kernels/idle_list.h"
#include "kernels/post_ops.h"
#include "layout.h"
#include "ptq/ir/buffer_pool.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/util/log.h"

namespace ptq::exec {

const Tensor& KernelIO::in(size_t i) const {
  if (!has(i)) PTQ_FAIL(ModelError, "required input ", i, " is missing");
  return *inputs[i];
}

void expect_inputs(const Node& node, size_t min_count, size_t max_count) {
  size_t n = node.inputs.size();
  while (n > 0 && node.inputs[n - 1].empty()) --n;  // trailing omitted optionals
  if (n < min_count || n > max_count) {
    if (min_count == max_count)
      PTQ_FAIL(ModelError, node.describe(), ": expects ", min_count, " inputs, got ", n);
    PTQ_FAIL(ModelError, node.describe(), ": expects ", min_count, " to ", max_count, " inputs, got ", n);
  }
}

const KernelEntry* find_kernel(const std::string& domain, const std::string& op_type) {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const auto& e : kernel_table())
    if (d == e.domain && op_type == e.op_type) return &e;
  return nullptr;
}

namespace {

Kernel bind_kernel(const Node& node) {
  const KernelEntry* entry = find_kernel(node.domain, node.op_type);
  if (!entry) {
    PTQ_FAIL(UnsupportedError, "no kernel for ", node.domain.empty() ? "" : node.domain + ".", node.op_type);
  }
  return entry->make(node);
}

void collect_unsupported(const Graph& graph, std::vector<std::string>& out) {
  for (const auto& node : graph.nodes) {
    try {
      bind_kernel(node);
    } catch (const Error& e) {
      std::string what = e.what();
      std::string prefix = node.describe() + ": ";
      if (what.compare(0, prefix.size(), prefix) == 0) what = what.substr(prefix.size());
      out.push_back("node '" + node.name + "' (" + node.op_type + ", opset " + std::to_string(node.opset) + "): " + what);
    }
    for (const auto& kv : node.attrs) {
      if (kv.second.g) collect_unsupported(*kv.second.g, out);
      for (const auto& g : kv.second.graphs) collect_unsupported(*g, out);
    }
  }
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

}  // namespace

std::vector<std::string> find_unsupported_nodes(const Graph& graph) {
  std::vector<std::string> out;
  collect_unsupported(graph, out);
  return out;
}

void check_input(const ValueInfo& expected, const Tensor& got, const std::string& origin) {
  auto fail = [&](const std::string& what) {
    PTQ_FAIL(DataError, origin, "input '", expected.name, "': ", what);
  };
  if (expected.dtype != DType::Undefined && got.dtype() != expected.dtype)
    fail("expected dtype " + dtype_name(expected.dtype) + ", got " + dtype_name(got.dtype()));
  if (!expected.has_shape) return;
  if (static_cast<size_t>(got.rank()) != expected.dims.size())
    fail("expected shape " + expected.shape_str() + ", got " + shape_str(got.shape()));
  for (size_t i = 0; i < expected.dims.size(); ++i)
    if (expected.dims[i].known() && expected.dims[i].value != got.shape()[i])
      fail("expected shape " + expected.shape_str() + ", got " + shape_str(got.shape()));
}

// ---- Plan -------------------------------------------------------------------------------------------

namespace {
bool foldable(const Node& node);
}  // namespace

// A run's working memory: the value slots, their layouts and the argument lists of the node running.
// Kept between runs (one per concurrent run), so that a steady-state run allocates none of it.
struct Frame {
  std::vector<Tensor> values;
  std::vector<int64_t> channels;
  KernelIO io;
  LayoutIO layout;
  void release() {  // keeps the capacities, lets the tensors go
    values.clear();
    io.inputs.clear();
    io.outputs.clear();
  }
};

struct Executor::Plan {
  // Run-time tensors come from here (buffer_pool.h): after the first run of a shape, none from the heap.
  std::shared_ptr<BufferPool> pool = BufferPool::create();
  std::unordered_map<std::string, int> slot_of;   // tensor name -> value slot
  std::vector<std::string> slot_name;
  std::vector<Tensor> initial;                    // weights pre-filled, the rest empty
  std::vector<Kernel> kernels;
  std::vector<std::vector<int>> input_slots;      // per node; -1 omitted, -2 - k: outer name k
  std::vector<std::vector<int>> output_slots;     // per node; -1 omitted
  std::vector<std::vector<int>> free_after;       // per node: slots dead after it ran
  std::vector<std::string> outer_names;           // names resolved through the enclosing scope
  std::vector<int> graph_input_slots;
  // Fusion (fusion.h): groups run at their head's position when nobody observes their intermediates.
  std::vector<FusedGroup> groups;
  std::vector<int> group_at;                    // per node: index of the group it heads, or -1
  std::vector<char> absorbed;                   // per node: runs inside a group headed elsewhere
  std::vector<std::vector<int>> group_output;   // per group: {slot of its output}
  std::vector<std::vector<int>> group_free;     // per group: union of its nodes' free_after
  std::unordered_map<std::string, int> hidden;  // hidden tensor -> group
  std::vector<char> folded;                     // per node: outputs computed at construction
  // Blocked layout (layout.h), in fused runs only: the blocked form of every node outside a group that
  // has one, and per slot whether its producer may leave it blocked (some reader takes it blocked).
  std::vector<BlockedKernel> blocked;
  std::vector<char> may_block;
  // A node that reads only weights and is not folded (a DequantizeLinear of a big weight) runs just
  // before its first reader (or that reader's group head), not at its place in the topological order:
  // a rewritten model lists all weights' DequantizeLinear first, whose outputs would otherwise all be
  // alive at once.
  std::vector<char> deferred;                   // per node: runs from run_before of a later node
  std::vector<std::vector<size_t>> run_before;  // per node: deferred nodes to run first
  // Per node: weights from external data (views of a file mapping) it is the last reader of; their
  // pages are let go after it ran (read back from the page cache by the next run), so that a run holds
  // about one layer's weights, not the whole model's.
  std::vector<std::vector<int>> release_after;
  mutable std::mutex profile_mutex;
  mutable std::map<std::string, OpProfile> profile;
  mutable IdleList<Frame> frames;  // one per concurrent run

  int slot(const std::string& name) {
    auto it = slot_of.find(name);
    if (it != slot_of.end()) return it->second;
    int s = static_cast<int>(slot_name.size());
    slot_of[name] = s;
    slot_name.push_back(name);
    initial.emplace_back();
    return s;
  }
};

namespace {

// Looks names up in the running executor's values, then in its enclosing scope.
class FrameScope : public Scope {
 public:
  FrameScope(const std::unordered_map<std::string, int>& slot_of, const std::vector<Tensor>& values, const Scope* outer)
      : slot_of_(slot_of), values_(values), outer_(outer) {}
  const Tensor* lookup(const std::string& name) const override {
    auto it = slot_of_.find(name);
    if (it != slot_of_.end() && values_[static_cast<size_t>(it->second)].defined())
      return &values_[static_cast<size_t>(it->second)];
    return outer_ ? outer_->lookup(name) : nullptr;
  }

 private:
  const std::unordered_map<std::string, int>& slot_of_;
  const std::vector<Tensor>& values_;
  const Scope* outer_;
};

}  // namespace

Executor::Executor(const Graph& graph, ExecOptions options)
    : graph_(graph), options_(options), threads_(resolve_threads(options.threads)), plan_(std::make_unique<Plan>()) {
  std::vector<std::string> unsupported = find_unsupported_nodes(graph);
  if (!unsupported.empty()) {
    std::string msg = std::to_string(unsupported.size()) + " unsupported node" + (unsupported.size() > 1 ? "s" : "") + ": ";
    for (size_t i = 0; i < unsupported.size(); ++i) msg += (i ? "; " : "") + unsupported[i];
    throw UnsupportedError(msg);
  }
  Plan& p = *plan_;
  for (const auto& kv : graph.weights) p.initial[static_cast<size_t>(p.slot(kv.first))] = kv.second.value;
  for (const auto& in : graph.inputs) p.graph_input_slots.push_back(p.slot(in.name));
  std::unordered_map<std::string, int> outer_index;
  size_t n = graph.nodes.size();
  p.kernels.resize(n);
  p.input_slots.resize(n);
  p.output_slots.resize(n);
  p.free_after.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Node& node = graph.nodes[i];
    p.kernels[i] = bind_kernel(node);
    for (const auto& o : node.outputs) p.output_slots[i].push_back(o.empty() ? -1 : p.slot(o));
  }
  // Inputs after all outputs have slots, so any name that has no slot comes from an outer scope.
  for (size_t i = 0; i < n; ++i) {
    for (const auto& in : graph.nodes[i].inputs) {
      if (in.empty()) {
        p.input_slots[i].push_back(-1);
      } else if (p.slot_of.count(in)) {
        p.input_slots[i].push_back(p.slot_of[in]);
      } else {
        auto it = outer_index.find(in);
        if (it == outer_index.end()) {
          it = outer_index.emplace(in, static_cast<int>(p.outer_names.size())).first;
          p.outer_names.push_back(in);
        }
        p.input_slots[i].push_back(-2 - it->second);
      }
    }
  }
  // Lifetimes: a slot dies after its last reader unless it is a weight, a graph output or read by a
  // subgraph (implicit input), which is kept until the reading node ran.
  std::vector<int> last_use(p.slot_name.size(), -1);
  for (size_t i = 0; i < n; ++i) {
    for (int s : p.input_slots[i])
      if (s >= 0) last_use[static_cast<size_t>(s)] = static_cast<int>(i);
    for (const auto& name : graph.nodes[i].implicit_inputs) {
      auto it = p.slot_of.find(name);
      if (it != p.slot_of.end()) last_use[static_cast<size_t>(it->second)] = static_cast<int>(i);
    }
    for (int s : p.output_slots[i])  // an output nobody reads dies right after its node
      if (s >= 0 && last_use[static_cast<size_t>(s)] < static_cast<int>(i)) last_use[static_cast<size_t>(s)] = static_cast<int>(i);
  }
  for (const auto& o : graph.outputs) {
    auto it = p.slot_of.find(o.name);
    if (it != p.slot_of.end()) last_use[static_cast<size_t>(it->second)] = -1;
  }
  for (size_t s = 0; s < last_use.size(); ++s)
    if (last_use[s] >= 0 && !graph.is_weight(p.slot_name[s])) p.free_after[static_cast<size_t>(last_use[s])].push_back(static_cast<int>(s));
  p.release_after.assign(n, {});
  for (const auto& [name, w] : graph.weights) {
    const int s = p.slot_of.at(name);
    if (w.source == WeightSource::External && last_use[static_cast<size_t>(s)] >= 0)
      p.release_after[static_cast<size_t>(last_use[static_cast<size_t>(s)])].push_back(s);
  }
  p.folded.assign(n, 0);
  if (options_.fold_constants) plan_constants();
  if (options_.fuse) {
    plan_groups();
    plan_layout();
  }
  // Deferred constants (see Plan::deferred).
  p.deferred.assign(n, 0);
  p.run_before.assign(n, {});
  std::vector<int> head_of(n, -1);  // per node: the head of the group it is in
  for (const auto& g : p.groups)
    for (size_t m : g.nodes) head_of[m] = static_cast<int>(g.head);
  for (size_t j = 0; j < n; ++j) {
    const Node& node = graph.nodes[j];
    if (p.folded[j] || head_of[j] >= 0 || !foldable(node)) continue;
    bool weights_only = true;
    for (const auto& in : node.inputs) weights_only = weights_only && (in.empty() || graph.is_weight(in));
    if (!weights_only) continue;
    size_t target = n;
    bool movable = true;
    for (const auto& out : node.outputs) {
      if (out.empty()) continue;
      if (graph.is_graph_output(out)) movable = false;
      for (int c : graph.consumers(out)) {
        const size_t at = head_of[static_cast<size_t>(c)] >= 0 ? static_cast<size_t>(head_of[static_cast<size_t>(c)]) : static_cast<size_t>(c);
        target = std::min(target, at);
      }
    }
    if (!movable || target >= n || target <= j + 1) continue;
    p.deferred[j] = 1;
    p.run_before[target].push_back(j);
  }
}

namespace {

// A folded output larger than this, and larger than the node's inputs together, is not kept: it would
// be a second, wider copy of a weight (a DequantizeLinear of a big int8 weight gives 4x its bytes) held
// for the executor's life. Such a node runs every time instead, its output freed after its last use.
constexpr size_t kMaxExpandingFoldBytes = size_t{64} << 20;

// Ops that must run every time (random generators) or hold subgraphs are never folded.
bool foldable(const Node& node) {
  if (node.op_type.rfind("Random", 0) == 0 || node.op_type == "Multinomial" || node.op_type == "Bernoulli") return false;
  for (const auto& kv : node.attrs)
    if (kv.second.g || !kv.second.graphs.empty()) return false;
  return !node.inputs.empty() && node.implicit_inputs.empty();
}

}  // namespace

void Executor::plan_constants() {
  Plan& p = *plan_;
  std::vector<char> constant(p.slot_name.size(), 0);
  for (const auto& kv : graph_.weights) constant[static_cast<size_t>(p.slot_of.at(kv.first))] = 1;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    const Node& node = graph_.nodes[i];
    bool all = foldable(node);
    for (int s : p.input_slots[i]) all = all && (s == -1 || (s >= 0 && constant[static_cast<size_t>(s)]));
    if (!all) continue;
    KernelIO io;
    for (int s : p.input_slots[i]) io.inputs.push_back(s >= 0 ? &p.initial[static_cast<size_t>(s)] : nullptr);
    io.outputs.assign(node.outputs.size(), Tensor());
    io.threads = threads_;
    try {
      p.kernels[i](io);
    } catch (const Error&) {
      continue;  // left to run time, which reports the error with its context
    }
    size_t in_bytes = 0, out_bytes = 0;
    for (const Tensor* t : io.inputs) in_bytes += t ? t->nbytes() : 0;
    for (const Tensor& t : io.outputs) out_bytes += t.defined() ? t.nbytes() : 0;
    if (out_bytes > kMaxExpandingFoldBytes && out_bytes > in_bytes) continue;
    for (size_t k = 0; k < p.output_slots[i].size(); ++k) {
      int s = p.output_slots[i][k];
      if (s < 0 || !io.outputs[k].defined()) continue;
      p.initial[static_cast<size_t>(s)] = std::move(io.outputs[k]);
      constant[static_cast<size_t>(s)] = 1;
    }
    p.folded[i] = 1;
  }
}

void Executor::plan_groups() {
  Plan& p = *plan_;
  p.groups = plan_fusion(graph_);
  p.groups.erase(std::remove_if(p.groups.begin(), p.groups.end(),
                                [&](const FusedGroup& g) {
                                  for (size_t n : g.nodes)
                                    if (p.folded[n]) return true;
                                  return false;
                                }),
                 p.groups.end());
  p.group_at.assign(graph_.nodes.size(), -1);
  p.absorbed.assign(graph_.nodes.size(), 0);
  for (size_t k = 0; k < p.groups.size(); ++k) {
    const FusedGroup& g = p.groups[k];
    p.group_at[g.head] = static_cast<int>(k);
    p.group_output.push_back({p.slot_of.at(g.output)});
    std::vector<int> free;
    for (size_t n : g.nodes) {
      if (n != g.head) p.absorbed[n] = 1;
      free.insert(free.end(), p.free_after[n].begin(), p.free_after[n].end());
    }
    p.group_free.push_back(free);
    for (const auto& h : g.hidden) p.hidden[h] = static_cast<int>(k);
  }
}

void Executor::plan_layout() {
  Plan& p = *plan_;
  const size_t n = graph_.nodes.size();
  p.blocked.assign(n, BlockedKernel());
  p.may_block.assign(p.slot_name.size(), 0);
  std::vector<const BlockedKernel*> form(n, nullptr);  // per node: the blocked form of the step it heads
  std::vector<char> in_group(n, 0);
  for (const auto& g : p.groups) {
    for (size_t m : g.nodes) in_group[m] = 1;
    if (g.blocked) form[g.head] = &g.blocked;
  }
  for (size_t i = 0; i < n; ++i) {
    if (in_group[i] || p.folded[i]) continue;
    LayoutKernels lk = make_layout_kernels(graph_.nodes[i], PostOps{});
    if (!lk.blocked) continue;
    p.blocked[i] = std::move(lk.blocked);
    if (lk.plain) p.kernels[i] = std::move(lk.plain);  // shares the packed weights
    form[i] = &p.blocked[i];
  }
  std::vector<char> reader(p.slot_name.size(), 0), barred(p.slot_name.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < p.input_slots[i].size(); ++k) {
      const int s = p.input_slots[i][k];
      if (s >= 0 && form[i] && reads_blocked(graph_.nodes[i], k)) reader[static_cast<size_t>(s)] = 1;
    }
    for (const auto& name : graph_.nodes[i].implicit_inputs)
      if (auto it = p.slot_of.find(name); it != p.slot_of.end()) barred[static_cast<size_t>(it->second)] = 1;
  }
  for (const auto& o : graph_.outputs)
    if (auto it = p.slot_of.find(o.name); it != p.slot_of.end()) barred[static_cast<size_t>(it->second)] = 1;
  auto allow = [&](int s) {
    if (s >= 0 && reader[static_cast<size_t>(s)] && !barred[static_cast<size_t>(s)]) p.may_block[static_cast<size_t>(s)] = 1;
  };
  for (size_t k = 0; k < p.groups.size(); ++k)
    if (p.groups[k].blocked) allow(p.group_output[k][0]);
  for (size_t i = 0; i < n; ++i)
    if (p.blocked[i] && !p.output_slots[i].empty()) allow(p.output_slots[i][0]);
}

Executor::~Executor() = default;

TensorMap Executor::run(const TensorMap& inputs, const RunOptions& options) const {
  const Plan& p = *plan_;
  BufferPoolScope pooled(p.pool.get());
  const IdleList<Frame>::Lease frame = p.frames.take();
  std::vector<Tensor>& values = frame->values;
  values.assign(p.initial.begin(), p.initial.end());
  for (const auto& kv : inputs) {
    auto it = p.slot_of.find(kv.first);
    bool is_input = false;
    for (const auto& in : graph_.inputs) is_input = is_input || in.name == kv.first;
    if (!is_input) {
      std::string names;
      for (const auto& in : graph_.inputs) names += (names.empty() ? "" : ", ") + in.name;
      PTQ_FAIL(DataError, "unknown input '", kv.first, "' (the model's inputs: ", names, ")");
    }
    values[static_cast<size_t>(it->second)] = kv.second;
  }
  for (size_t k = 0; k < graph_.inputs.size(); ++k) {
    const ValueInfo& vi = graph_.inputs[k];
    auto it = inputs.find(vi.name);
    if (it == inputs.end()) PTQ_FAIL(DataError, "missing input '", vi.name, "' (", dtype_name(vi.dtype), " ", vi.shape_str(), ")");
    check_input(vi, it->second, "");
  }
  // Fetched tensors must survive: keep a copy when produced.
  std::unordered_map<int, std::string> fetch_slots;
  for (const auto& f : options.fetch) {
    auto it = p.slot_of.find(f);
    if (it == p.slot_of.end()) PTQ_FAIL(Error, "cannot fetch '", f, "': no such tensor in the graph");
    fetch_slots[it->second] = f;
  }
  TensorMap result;
  for (const auto& kv : fetch_slots)
    if (values[static_cast<size_t>(kv.first)].defined()) result[kv.second] = values[static_cast<size_t>(kv.first)];

  // Fused groups only when nobody observes their intermediates.
  bool fused = options_.fuse && !(options.tap && *options.tap);
  for (const auto& f : options.fetch) fused = fused && !p.hidden.count(f);
  FrameScope scope(p.slot_of, values, options.outer);
  KernelIO& io = frame->io;
  io.scope = &scope;
  io.tap = options.tap;
  io.threads = threads_;
  const bool tapping = options.tap && *options.tap;
  // Blocked layout (layout.h): per slot, the real channel count of a value held blocked (0: NCHW).
  std::vector<int64_t>& channels = frame->channels;
  channels.assign(fused ? values.size() : 0, 0);
  auto to_plain = [&](int s) {  // profiled as "Reorder" (a conversion a plain reader forced)
    if (s < 0 || channels[static_cast<size_t>(s)] == 0) return;
    const auto start = std::chrono::steady_clock::now();
    values[static_cast<size_t>(s)] = unblock(values[static_cast<size_t>(s)], channels[static_cast<size_t>(s)], threads_);
    channels[static_cast<size_t>(s)] = 0;
    if (!options_.profile) return;
    std::lock_guard<std::mutex> lock(p.profile_mutex);
    OpProfile& prof = p.profile["Reorder"];
    prof.calls += 1;
    prof.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Stores a step's outputs (unless already in `values`), hands them to the tap and the fetch list,
  // then frees what died.
  auto publish = [&](const Node& node, const std::vector<int>& slots, const std::vector<int>& dead, bool computed) {
    for (size_t k = 0; k < slots.size(); ++k) {
      const int s = slots[k];
      if (s < 0) continue;
      if (computed) {
        if (!io.outputs[k].defined()) PTQ_FAIL(Error, node.describe(), ": kernel produced no output ", k);
        values[static_cast<size_t>(s)] = std::move(io.outputs[k]);
      }
      const Tensor& v = values[static_cast<size_t>(s)];
      if (tapping && v.defined()) (*options.tap)(node.outputs[k], v);  // never inside a fused group
      auto f = fetch_slots.find(s);
      if (f != fetch_slots.end()) result[f->second] = v;
    }
    for (int d : dead) values[static_cast<size_t>(d)] = Tensor();
  };
  LayoutIO& layout = frame->layout;
  auto run_at = [&](size_t i) {
    const Node& node = graph_.nodes[i];
    if (p.folded[i]) {  // outputs computed at construction: already in `values`
      publish(node, p.output_slots[i], p.free_after[i], false);
      return;
    }
    const int group = fused ? p.group_at[i] : -1;
    io.inputs.clear();
    for (size_t k = 0; k < p.input_slots[i].size(); ++k) {
      int s = p.input_slots[i][k];
      if (s == -1) {
        io.inputs.push_back(nullptr);
      } else if (s >= 0) {
        io.inputs.push_back(&values[static_cast<size_t>(s)]);
      } else {
        const std::string& name = p.outer_names[static_cast<size_t>(-2 - s)];
        const Tensor* t = options.outer ? options.outer->lookup(name) : nullptr;
        if (!t) PTQ_FAIL(ModelError, node.describe(), ": input '", name, "' is not available");
        io.inputs.push_back(t);
      }
    }
    io.outputs.assign(node.outputs.size(), Tensor());
    auto start = std::chrono::steady_clock::now();
    const BlockedKernel* blocked = !fused ? nullptr : group >= 0 ? &p.groups[static_cast<size_t>(group)].blocked : &p.blocked[i];
    const int out_slot = group >= 0 ? p.group_output[static_cast<size_t>(group)][0] : p.output_slots[i].empty() ? -1 : p.output_slots[i][0];
    int64_t out_channels = 0;
    try {
      bool done = false;
      if (blocked && *blocked) {
        layout.in_channels.clear();  // one LayoutIO for the run (nodes run in turn): its vector grew per node
        layout.out_channels = 0;
        for (int s : p.input_slots[i]) layout.in_channels.push_back(s >= 0 ? channels[static_cast<size_t>(s)] : 0);
        layout.want_blocked = out_slot >= 0 && p.may_block[static_cast<size_t>(out_slot)] && !fetch_slots.count(out_slot);
        done = (*blocked)(io, layout);
        out_channels = done ? layout.out_channels : 0;
      }
      if (!done) {
        if (fused)
          for (int s : p.input_slots[i]) to_plain(s);
        if (group >= 0) p.groups[static_cast<size_t>(group)].kernel(io);
        else p.kernels[i](io);
      }
    } catch (Error& e) {
      e.append_context(node.describe());
      throw;
    }
    if (options_.profile) {
      double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::lock_guard<std::mutex> lock(p.profile_mutex);
      OpProfile& prof = p.profile[node.op_type];
      prof.calls += 1;
      prof.seconds += dt;
    }
    if (fused)
      for (int s : group >= 0 ? p.group_output[static_cast<size_t>(group)] : p.output_slots[i])
        if (s >= 0) channels[static_cast<size_t>(s)] = s == out_slot ? out_channels : 0;
    if (group >= 0)  // the group's result goes to its last node's output
      publish(node, p.group_output[static_cast<size_t>(group)], p.group_free[static_cast<size_t>(group)], true);
    else
      publish(node, p.output_slots[i], p.free_after[i], true);
    auto release = [&](size_t m) {
      for (int s : p.release_after[m]) onnx_io::release_pages(values[static_cast<size_t>(s)]);
    };
    if (group < 0) release(i);
    else
      for (size_t m : p.groups[static_cast<size_t>(group)].nodes) release(m);
  };
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    for (size_t j : p.run_before[i]) run_at(j);
    if (p.deferred[i] || (fused && p.absorbed[i])) continue;
    run_at(i);
  }
  for (const auto& o : graph_.outputs) {
    const Tensor* t = scope.lookup(o.name);
    if (!t) PTQ_FAIL(ModelError, "graph output '", o.name, "' was not computed");
    result[o.name] = *t;
  }
  p.pool->trim();  // what this run did not take (shapes that stopped occurring) goes back to the heap
  return result;
}

std::vector<Tensor> Executor::run_node(size_t index, const std::vector<const Tensor*>& inputs, const Scope* scope) const {
  PTQ_CHECK(index < graph_.nodes.size());
  const Node& node = graph_.nodes[index];
  KernelIO io;
  io.inputs = inputs;
  io.scope = scope;
  io.outputs.assign(node.outputs.size(), Tensor());
  io.threads = threads_;
  try {
    plan_->kernels[index](io);
  } catch (Error& e) {
    e.append_context(node.describe());
    throw;
  }
  return std::move(io.outputs);
}

BufferPool::Stats Executor::buffer_stats() const { return plan_->pool->stats(); }

std::map<std::string, OpProfile> Executor::profile() const {
  std::lock_guard<std::mutex> lock(plan_->profile_mutex);
  return plan_->profile;
}

}  // namespace ptq::exec
