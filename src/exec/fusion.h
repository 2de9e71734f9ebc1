// SPDX-License-Identifier: Apache-2.0
// Executor-level fusion: a compute node (Conv, ConvTranspose, Gemm, MatMul) and the element-wise nodes
// that follow it run as one kernel whose epilogue repeats their arithmetic (post_ops.h). The executor
// uses the groups only when nobody observes the intermediate tensors (no tap, no fetch of a hidden
// tensor), so a tap still sees every node output, computed node by node.
#pragma once

#include <string>
#include <vector>

#include "layout.h"
#include "ptq/exec/kernel.h"

namespace ptq::exec {

struct FusedGroup {
  size_t head = 0;                  // index of the compute node in graph.nodes
  std::vector<size_t> nodes;        // the head, then every absorbed node
  std::string output;               // the tensor the group produces (its last node's output)
  std::vector<std::string> hidden;  // intermediates the group never materializes
  Kernel kernel;                    // the head's inputs -> `output`
  BlockedKernel blocked;            // its blocked form (layout.h), or empty
};

// Groups for every compute node whose output feeds a fusable chain (the patterns are listed in
// fusion.cpp). Nodes are never in two groups.
std::vector<FusedGroup> plan_fusion(const Graph& graph);

}  // namespace ptq::exec
