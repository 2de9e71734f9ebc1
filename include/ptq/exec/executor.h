// SPDX-License-Identifier: Apache-2.0
// Executor: runs a Graph on the CPU. Construction binds a kernel to every node (all unsupported nodes
// are reported at once, before anything runs) and plans tensor lifetimes: an intermediate is freed
// after its last reader. run() checks inputs against the model (name, dtype, rank, static dims),
// executes nodes in topological order and can hand every node output to a tap. The executor knows
// nothing about quantization.
// Memory: a run's tensors come from the executor's buffer pool and its working lists from a frame kept
// between runs, so a run that repeats the previous one's shapes allocates nothing of its own (oneDNN's
// execute still allocates its argument context, about 5 blocks per convolution).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ptq/exec/kernel.h"
#include "ptq/ir/buffer_pool.h"
#include "ptq/ir/graph.h"

namespace ptq::exec {

using TensorMap = std::map<std::string, Tensor>;

struct ExecOptions {
  int threads = 0;       // 0: all cores
  bool profile = false;  // accumulate time per op type
  // Run a Conv/ConvTranspose/Gemm/MatMul and the element-wise nodes after it (BatchNormalization,
  // activations, constant Add/Mul/Div) as one kernel when nobody observes the intermediates (no tap,
  // no fetch of one). Same bits as the node-by-node run except Sigmoid/SiLU epilogues (~2 ulp).
  bool fuse = true;
  // Run nodes whose inputs are all constant (weights, or outputs of such nodes) once, when the
  // executor is built (e.g. DequantizeLinear of quantized weights); runs then reuse their outputs and
  // still hand them to the tap. Costs the memory of those outputs for the executor's lifetime.
  bool fold_constants = true;
};

struct RunOptions {
  const Tap* tap = nullptr;              // called after each node with each output (name, tensor)
  std::vector<std::string> fetch;        // extra tensors to return besides the graph outputs
  const Scope* outer = nullptr;          // enclosing scope (subgraph execution)
};

struct OpProfile {
  int64_t calls = 0;
  double seconds = 0.0;
};

class Executor {
 public:
  // The graph must outlive the executor.
  explicit Executor(const Graph& graph, ExecOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Runs the graph. `inputs` holds one tensor per graph input (by name); returns the graph outputs
  // (and the fetched tensors) by name. Throws DataError for a missing/unknown input or a dtype/shape
  // mismatch, naming the input with expected vs got.
  TensorMap run(const TensorMap& inputs, const RunOptions& options = {}) const;

  // Runs one node (graph().nodes[index]) on the given inputs, one per node input (nullptr for an
  // omitted one); returns its outputs. For per-layer searches (EQ calibration) and simulations that
  // keep their own tensors (search/quant_sim.h). `scope` resolves the outer-scope names a control-flow
  // node's subgraphs read.
  std::vector<Tensor> run_node(size_t index, const std::vector<const Tensor*>& inputs, const Scope* scope = nullptr) const;

  const Graph& graph() const { return graph_; }
  const ExecOptions& options() const { return options_; }
  int threads() const { return threads_; }
  // Per op type, when options.profile is set.
  std::map<std::string, OpProfile> profile() const;
  // The run-time tensor buffers (ptq/ir/buffer_pool.h): how many came from the heap, how many were
  // reused, how many bytes are pooled between runs. A run that repeats the previous one's shapes takes
  // none from the heap.
  BufferPool::Stats buffer_stats() const;

 private:
  struct Plan;
  void plan_groups();
  void plan_layout();
  void plan_constants();
  const Graph& graph_;
  ExecOptions options_;
  int threads_ = 1;
  std::unique_ptr<Plan> plan_;
};

// Every node (subgraphs included) with no kernel, or whose kernel rejects its attributes, as
// "node 'name' (OpType, opset N): reason"; empty when the graph can run.
std::vector<std::string> find_unsupported_nodes(const Graph& graph);

// Checks one input tensor against the graph input's declared dtype and shape; throws DataError.
void check_input(const ValueInfo& expected, const Tensor& got, const std::string& origin);

}  // namespace ptq::exec
