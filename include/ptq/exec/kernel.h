// SPDX-License-Identifier: Apache-2.0
// Kernels: plain functions over Tensors, built per node by a factory that reads the node's attributes
// once (opset differences are resolved there, not at run time). One row per op in the kernel table.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ptq/ir/graph.h"
#include "ptq/ir/tensor.h"

namespace ptq::exec {

using Tap = std::function<void(const std::string& name, const Tensor& value)>;

// Values visible from a subgraph: resolves names of enclosing graphs.
class Scope {
 public:
  virtual ~Scope() = default;
  // nullptr when the name is unknown here and in every enclosing scope.
  virtual const Tensor* lookup(const std::string& name) const = 0;
};

// What a kernel sees when it runs.
struct KernelIO {
  std::vector<const Tensor*> inputs;  // nullptr for an omitted optional input
  std::vector<Tensor> outputs;        // sized to the node's outputs; the kernel fills them
  const Scope* scope = nullptr;       // for control-flow kernels running subgraphs
  const Tap* tap = nullptr;           // forwarded into subgraphs
  int threads = 1;

  size_t num_inputs() const { return inputs.size(); }
  bool has(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  // Input i; throws Error when it is missing.
  const Tensor& in(size_t i) const;
};

using Kernel = std::function<void(KernelIO& io)>;
// Builds the kernel of one node. Throws UnsupportedError for attribute values it does not handle.
using KernelFactory = Kernel (*)(const Node& node);

struct KernelEntry {
  const char* domain;   // "" (ai.onnx) or "com.microsoft"
  const char* op_type;  // spelled as in the ONNX spec
  KernelFactory make;
};

// The kernel table (src/exec/kernel_table.cpp).
const std::vector<KernelEntry>& kernel_table();
// nullptr when no kernel handles (domain, op_type). "ai.onnx" is the default domain.
const KernelEntry* find_kernel(const std::string& domain, const std::string& op_type);

// Input-count check shared by factories: throws ModelError naming the node.
void expect_inputs(const Node& node, size_t min_count, size_t max_count);

}  // namespace ptq::exec
