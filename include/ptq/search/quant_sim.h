// SPDX-License-Identifier: Apache-2.0
// QuantSim: runs a float graph as its Q/DQ model computes, without writing that model. Every planned
// tensor is replaced by dequantize(quantize(x)) for the nodes that read it quantized, with the
// parameters the rewrite writes (rewrite::resolve_params):
//   activation T (a group: a root and the tensors sharing its parameters): every reader, and the graph
//     output T, see fq(T); a folded Relu/Clip runs as a float node whose output is quantized, which
//     computes what the producer-plus-Q/DQ of the rewritten model computes;
//   weight / bias: their planned readers see fq(W) (biases: int32 with scale s_x·s_w); a bias counts as
//     on when the two groups its scale comes from are.
// Quantizer groups (activation groups and weights) can be switched on and off, which is what a
// sensitivity analysis does; a run keeps every tensor (a Trace) so that switching some groups re-runs
// only the nodes that read them and the nodes below. Control-flow bodies read outer-scope values
// unquantized, as the rewritten model's bodies do.
// Layer-by-layer weight transforms (transform/adaround.h) run step-wise instead: start() a trace,
// advance() it up to a node (keeping only the tensors later nodes read), read that node's input as it
// sees it (input()), change the node's weight in the graph and tell the simulator (update_weight()).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ptq/exec/executor.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::search {

// Every tensor of one run by slot (graph inputs and node outputs; weights are not copied), unquantized.
struct Trace {
  std::vector<Tensor> values;
  size_t next = 0;  // the first node not yet run (step-wise runs; a full run: every node ran)
};

using GroupFlags = std::vector<char>;  // one per quantizer group: 1 = quantized

class QuantSim {
 public:
  // `params`: rewrite::resolve_params(graph, plan, table). The graph must outlive the simulator.
  QuantSim(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params, int threads);
  ~QuantSim();

  size_t groups() const;
  // The group of a planned activation (any member) or weight tensor; -1 when it is not quantized.
  int group_of(const std::string& tensor) const;
  GroupFlags all(bool on) const { return GroupFlags(groups(), on ? 1 : 0); }

  // A full run with the groups flagged in `on`.
  Trace run(const exec::TensorMap& inputs, const GroupFlags& on) const;
  // A full run that keeps only what is still needed (memory of an executor run): the graph outputs.
  exec::TensorMap run_outputs(const exec::TensorMap& inputs, const GroupFlags& on) const;
  // The graph outputs of a trace made with `on`, as the model returns them.
  exec::TensorMap outputs(const Trace& trace, const GroupFlags& on) const;
  // The graph outputs when the groups in `flip` take the other state than in `on` (the flags `base` was
  // run with): only the readers of the flipped quantizers, and the nodes below them, run again.
  exec::TensorMap rerun(const Trace& base, const GroupFlags& on, const std::vector<size_t>& flip) const;
  // The rounding error of group `group`'s quantizer on its own, as its readers see it, from a trace (a
  // float run: the activation's value there; weights and constants: their stored values): the sums
  // noise = sum (fq(x) - x)^2 and signal = sum x^2 over the group's root tensor (0, 0 when the trace
  // does not hold it).
  struct Noise {
    double noise = 0.0, signal = 0.0;
  };
  Noise group_noise(const Trace& trace, size_t group) const;
  // Shape of a tensor in a trace (nullptr when the trace does not hold it).
  const Shape* shape(const Trace& trace, const std::string& tensor) const;

  // Step-wise runs: a trace holding the graph inputs, no node run yet (checked as run() checks them).
  Trace start(const exec::TensorMap& inputs) const;
  // Runs nodes [trace.next, end) with the groups flagged in `on`, dropping every tensor no node from
  // `end` on (and no graph output) reads; trace.next becomes end.
  void advance(Trace& trace, const GroupFlags& on, size_t end) const;
  // Input k of node `node` as that node reads it under `on` (quantized when its quantizer is on), from
  // a trace advanced up to the node.
  Tensor input(const Trace& trace, size_t node, size_t k, const GroupFlags& on) const;
  // After the graph's value of weight `name` changed: its planned readers see fq(new value) from now on
  // (readers that read it float see the graph's value anyway). Not thread-safe with runs.
  void update_weight(const std::string& name);
  // The same after the parameters of planned constant `name` (a weight or a bias) changed to `p`.
  void update_weight(const std::string& name, const QParams& p);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ptq::search
