// SPDX-License-Identifier: Apache-2.0
// Control flow: If and Loop run their subgraphs with a nested Executor built once per node. A
// subgraph reads enclosing values (outer-scope names) through KernelIO::scope and hands its node
// outputs, and its graph inputs (a loop body's iteration number, condition and carried values), to the
// enclosing tap under their scoped names ("<node>/<attribute>/<tensor>", graph.h), so calibration sees
// values computed inside branches and loop bodies (once per iteration) without two bodies' names
// colliding. Subgraph weights (initializers, Constant nodes) belong to the subgraph's Graph.
//   If: cond (bool, one element) selects then_branch or else_branch; the node's outputs are the
//     branch's outputs.
//   Loop(M, cond, v...): body(i, cond, v...) -> (cond', v'..., scan...).
//       i = 0; while ((M omitted or i < M) and (cond omitted or cond)) { run body; i++ }
//     The body's cond output is ignored when the cond input is omitted. Outputs: the final v, then
//     each scan output stacked along a new axis 0 (every iteration must give the same shape; with
//     zero iterations the dims come from the body's declared output shape, unknown dims as 0).
//     A Loop without M and cond (an endless loop) is rejected.
//   Scan (opset 9+; opset 8's batched form is rejected): inputs s... (N states), then x... (M scan
//     inputs); body(s..., x_t...) -> (s'..., y_t...). T = the length of every x along its
//     scan_input_axes entry; step t reads x sliced at t (T-1-t where scan_input_directions is 1); the
//     outputs are the final states, then each y stacked along its scan_output_axes entry (in reverse
//     order where scan_output_directions is 1).
#include <cstring>
#include <memory>

#include "common.h"
#include "kernels.h"
#include "ptq/exec/executor.h"

namespace ptq::exec {
namespace {

// A subgraph and its executor, kept alive by the kernel.
struct Subgraph {
  std::shared_ptr<const Graph> graph;
  std::shared_ptr<Executor> executor;
  std::string scope;  // subgraph_scope(node, attr)
};

Subgraph subgraph_of(const Node& node, const char* attr) {
  auto it = node.attrs.find(attr);
  if (it == node.attrs.end() || !it->second.g) PTQ_FAIL(ModelError, node.describe(), ": graph attribute '", attr, "' is missing");
  Subgraph s;
  s.graph = it->second.g;
  s.scope = subgraph_scope(node, attr);
  const std::vector<std::string> unsupported = find_unsupported_nodes(*s.graph);
  if (!unsupported.empty())
    PTQ_FAIL(UnsupportedError, "its subgraph '", attr, "' has ", unsupported.size(), " unsupported node(s), listed separately");
  s.executor = std::make_shared<Executor>(*s.graph, ExecOptions{1, false});
  return s;
}

// Run options of a subgraph: the enclosing scope, and the enclosing tap (if any) behind `scoped`,
// which prefixes the names with the subgraph's scope.
RunOptions sub_options(const KernelIO& io, const Subgraph& s, Tap& scoped) {
  RunOptions ro;
  ro.outer = io.scope;
  if (io.tap && *io.tap) {
    const Tap* outer = io.tap;
    const std::string prefix = s.scope;
    scoped = [outer, prefix](const std::string& name, const Tensor& value) { (*outer)(prefix + name, value); };
    ro.tap = &scoped;
  }
  return ro;
}

bool read_bool(const Tensor& t, const char* what) {
  if (t.numel() != 1) PTQ_FAIL(ModelError, what, " must hold one value, got shape ", shape_str(t.shape()));
  return cast_tensor(t, DType::Bool).data<uint8_t>()[0] != 0;
}

// Stacks equally shaped tensors along a new axis 0.
Tensor stack(const std::vector<Tensor>& parts, const ValueInfo& declared, const std::string& name) {
  if (parts.empty()) {
    Shape s{0};
    for (const Dim& d : declared.dims) s.push_back(d.known() ? d.value : 0);
    if (declared.dtype == DType::Undefined) PTQ_FAIL(ModelError, "scan output '", name, "' has no iterations and no declared dtype");
    return Tensor(declared.dtype, s);
  }
  Shape s = parts[0].shape();
  s.insert(s.begin(), static_cast<int64_t>(parts.size()));
  Tensor out(parts[0].dtype(), s);
  const size_t bytes = parts[0].nbytes();
  for (size_t k = 0; k < parts.size(); ++k) {
    if (parts[k].shape() != parts[0].shape() || parts[k].dtype() != parts[0].dtype())
      PTQ_FAIL(ModelError, "scan output '", name, "' changes from ", shape_str(parts[0].shape()), " to ",
               shape_str(parts[k].shape()), " at iteration ", k);
    if (bytes) std::memcpy(static_cast<char*>(out.raw()) + k * bytes, parts[k].raw(), bytes);
  }
  return out;
}

// Element t along `axis` of x (that axis removed).
Tensor slice_at(const Tensor& x, int axis, int64_t t) {
  Shape s = x.shape();
  const int64_t T = s[static_cast<size_t>(axis)];
  s.erase(s.begin() + axis);
  Tensor out(x.dtype(), s);
  const size_t elem = x.numel() ? x.nbytes() / static_cast<size_t>(x.numel()) : 0;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(static_cast<char*>(out.raw()) + static_cast<size_t>(o * inner) * elem,
                static_cast<const char*>(x.raw()) + static_cast<size_t>((o * T + t) * inner) * elem, static_cast<size_t>(inner) * elem);
  return out;
}

// parts[k] placed at position k (or T-1-k when reversed) along a new `axis`.
Tensor stack_along(const std::vector<Tensor>& parts, int axis, bool reversed, const std::string& name) {
  Tensor flat = stack(parts, ValueInfo{}, name);  // [T, ...], checks equal shapes
  const int64_t T = static_cast<int64_t>(parts.size());
  Shape s = parts[0].shape();
  s.insert(s.begin() + axis, T);
  Tensor out(flat.dtype(), s);
  const size_t part = parts[0].nbytes();
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= s[static_cast<size_t>(d)];
  const size_t chunk = outer ? part / static_cast<size_t>(outer) : 0;
  for (int64_t k = 0; k < T; ++k) {
    const int64_t pos = reversed ? T - 1 - k : k;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char*>(out.raw()) + (static_cast<size_t>(o * T + pos)) * chunk,
                  static_cast<const char*>(flat.raw()) + static_cast<size_t>(k) * part + static_cast<size_t>(o) * chunk, chunk);
  }
  return out;
}

}  // namespace

Kernel make_if(const Node& node) {
  expect_inputs(node, 1, 1);
  const Subgraph then_branch = subgraph_of(node, "then_branch");
  const Subgraph else_branch = subgraph_of(node, "else_branch");
  for (const Subgraph* b : {&then_branch, &else_branch})
    if (b->graph->outputs.size() != node.outputs.size())
      PTQ_FAIL(ModelError, node.describe(), ": a branch has ", b->graph->outputs.size(), " outputs, the node ", node.outputs.size());
  return [then_branch, else_branch](KernelIO& io) {
    const Subgraph& b = read_bool(io.in(0), "cond") ? then_branch : else_branch;
    Tap scoped;
    TensorMap out = b.executor->run({}, sub_options(io, b, scoped));
    for (size_t k = 0; k < io.outputs.size(); ++k) io.outputs[k] = out.at(b.graph->outputs[k].name);
  };
}

Kernel make_loop(const Node& node) {
  if (!node.has_input(0) && !node.has_input(1))
    PTQ_FAIL(UnsupportedError, "a Loop without trip count and condition never ends");
  const Subgraph body = subgraph_of(node, "body");
  const size_t carried = node.inputs.size() > 2 ? node.inputs.size() - 2 : 0;
  if (body.graph->inputs.size() != carried + 2 || body.graph->outputs.size() < carried + 1)
    PTQ_FAIL(ModelError, node.describe(), ": the body takes ", body.graph->inputs.size(), " inputs and gives ",
             body.graph->outputs.size(), " outputs for ", carried, " loop-carried values");
  const size_t scans = body.graph->outputs.size() - 1 - carried;
  if (node.outputs.size() > carried + scans) PTQ_FAIL(ModelError, node.describe(), ": too many outputs");
  return [body, carried, scans](KernelIO& io) {
    const Graph& g = *body.graph;
    const bool has_max = io.has(0), has_cond = io.has(1);
    const int64_t max_trips = has_max ? read_ints(io.in(0), "M").at(0) : 0;
    bool cond = has_cond ? read_bool(io.in(1), "cond") : true;
    std::vector<Tensor> values;
    for (size_t k = 0; k < carried; ++k) values.push_back(io.in(2 + k));
    std::vector<std::vector<Tensor>> scan_parts(scans);
    Tap scoped;
    const RunOptions ro = sub_options(io, body, scoped);
    for (int64_t i = 0; (!has_max || i < max_trips) && cond; ++i) {
      TensorMap in;
      in[g.inputs[0].name] = Tensor::scalar<int64_t>(i);
      in[g.inputs[1].name] = cast_tensor(Tensor::scalar<uint8_t>(cond ? 1 : 0), DType::Bool);
      for (size_t k = 0; k < carried; ++k) in[g.inputs[2 + k].name] = values[k];
      if (ro.tap)
        for (const auto& [name, value] : in) scoped(name, value);
      TensorMap out = body.executor->run(in, ro);
      if (has_cond) cond = read_bool(out.at(g.outputs[0].name), "the body's cond output");
      for (size_t k = 0; k < carried; ++k) values[k] = out.at(g.outputs[1 + k].name);
      for (size_t k = 0; k < scans; ++k) scan_parts[k].push_back(out.at(g.outputs[1 + carried + k].name));
    }
    for (size_t k = 0; k < io.outputs.size(); ++k) {
      if (k < carried) io.outputs[k] = values[k];
      else io.outputs[k] = stack(scan_parts[k - carried], g.outputs[1 + k], g.outputs[1 + k].name);
    }
  };
}

Kernel make_scan(const Node& node) {
  if (node.opset < 9) PTQ_FAIL(UnsupportedError, "Scan before opset 9 (batched, with sequence_lens) is not supported");
  const Subgraph body = subgraph_of(node, "body");
  const size_t m = static_cast<size_t>(node.attr_int("num_scan_inputs", 0));
  if (m == 0 || m > node.inputs.size()) PTQ_FAIL(ModelError, node.describe(), ": num_scan_inputs must be in [1, ", node.inputs.size(), "]");
  const size_t n = node.inputs.size() - m, k = node.outputs.size() >= n ? node.outputs.size() - n : 0;
  if (body.graph->inputs.size() != n + m || body.graph->outputs.size() != n + k)
    PTQ_FAIL(ModelError, node.describe(), ": the body takes ", body.graph->inputs.size(), " inputs and gives ", body.graph->outputs.size(),
             " outputs for ", n, " states, ", m, " scan inputs and ", k, " scan outputs");
  auto ints = [&](const char* key, size_t count) {
    std::vector<int64_t> v = node.attr_ints(key, std::vector<int64_t>(count, 0));
    if (v.size() != count) PTQ_FAIL(ModelError, node.describe(), ": ", key, " needs ", count, " values, got ", v.size());
    return v;
  };
  const std::vector<int64_t> in_axes = ints("scan_input_axes", m), in_dirs = ints("scan_input_directions", m);
  const std::vector<int64_t> out_axes = ints("scan_output_axes", k), out_dirs = ints("scan_output_directions", k);
  return [body, n, m, k, in_axes, in_dirs, out_axes, out_dirs](KernelIO& io) {
    const Graph& g = *body.graph;
    std::vector<int> axes;
    int64_t steps = -1;
    for (size_t j = 0; j < m; ++j) {
      const Tensor& x = io.in(n + j);
      const int64_t a = in_axes[j] < 0 ? in_axes[j] + x.rank() : in_axes[j];
      if (a < 0 || a >= x.rank()) PTQ_FAIL(ModelError, "scan input ", j, ": axis ", in_axes[j], " is outside rank ", x.rank());
      if (steps >= 0 && x.dim(static_cast<int>(a)) != steps) PTQ_FAIL(ModelError, "scan inputs differ in length: ", steps, " and ", x.dim(static_cast<int>(a)));
      steps = x.dim(static_cast<int>(a));
      axes.push_back(static_cast<int>(a));
    }
    std::vector<Tensor> states;
    for (size_t j = 0; j < n; ++j) states.push_back(io.in(j));
    std::vector<std::vector<Tensor>> parts(k);
    Tap scoped;
    const RunOptions ro = sub_options(io, body, scoped);
    for (int64_t t = 0; t < steps; ++t) {
      TensorMap in;
      for (size_t j = 0; j < n; ++j) in[g.inputs[j].name] = states[j];
      for (size_t j = 0; j < m; ++j) in[g.inputs[n + j].name] = slice_at(io.in(n + j), axes[j], in_dirs[j] ? steps - 1 - t : t);
      if (ro.tap)
        for (const auto& [name, value] : in) scoped(name, value);
      TensorMap out = body.executor->run(in, ro);
      for (size_t j = 0; j < n; ++j) states[j] = out.at(g.outputs[j].name);
      for (size_t j = 0; j < k; ++j) parts[j].push_back(out.at(g.outputs[n + j].name));
    }
    for (size_t j = 0; j < n && j < io.outputs.size(); ++j) io.outputs[j] = states[j];
    for (size_t j = 0; j < k && n + j < io.outputs.size(); ++j) {
      const std::string& name = g.outputs[n + j].name;
      if (parts[j].empty()) {
        io.outputs[n + j] = stack(parts[j], g.outputs[n + j], name);
        continue;
      }
      const int rank = parts[j][0].rank() + 1;
      const int64_t a = out_axes[j] < 0 ? out_axes[j] + rank : out_axes[j];
      if (a < 0 || a >= rank) PTQ_FAIL(ModelError, "scan output ", j, ": axis ", out_axes[j], " is outside rank ", rank);
      io.outputs[n + j] = stack_along(parts[j], static_cast<int>(a), out_dirs[j] != 0, name);
    }
  };
}

}  // namespace ptq::exec
