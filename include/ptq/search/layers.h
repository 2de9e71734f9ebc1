// SPDX-License-Identifier: Apache-2.0
// Layers: the unit of sensitivity analysis and of mixed precision. A layer is a node the plan quantizes
// (not a folded Relu/Clip) together with its quantizers:
//   - the weights it reads quantized (its planned readers include it);
//   - the activation tensors it reads, and those it writes with parameters of its own, each with every
//     tensor that shares their parameters (data movement), as groups named by their root tensor.
// A layer left float, or made 16-bit, takes all of its quantizers along (so its neighbours read that
// tensor unquantized / in 16 bits too): PrecisionOverrides built by precision_overrides().
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ptq/ir/graph.h"
#include "ptq/rewrite/quantizer.h"

namespace ptq::search {

enum class Fallback { Int16, Float };
std::string fallback_name(Fallback f);          // "int16", "float"
Fallback fallback_from_name(const std::string& name);  // throws UsageError

struct Layer {
  int node = -1;                          // index in graph.nodes
  std::string name;                       // node name ("" when the model has none)
  std::string op_type;
  std::string label;                      // name, or "<op_type> writing <first output>"
  std::vector<std::string> weights;       // weight tensors it reads quantized
  std::vector<std::string> activations;   // roots of the activation groups it reads or writes
  std::vector<int> folded;                // Relu/Clip nodes folded into its output (they stay with it)
  int64_t macs = 0;                       // multiply-accumulates per sample (compute layers), else 0
};

// Quantization groups of a plan: root tensor -> the activation tensors sharing its parameters.
std::map<std::string, std::vector<std::string>> activation_groups(const rewrite::QuantPlan& plan);

// The layers of a plan, in graph order.
std::vector<Layer> find_layers(const Graph& graph, const rewrite::QuantPlan& plan);

// Multiply-accumulates of a Conv/ConvTranspose/Gemm/MatMul node per run, from the shapes of a run
// (shape_of returns nullptr for an unknown tensor); 0 for other ops or unknown shapes.
int64_t count_macs(const Graph& graph, int node, const std::function<const Shape*(const std::string&)>& shape_of);

// The overrides that put `chosen` layers (indices into `layers`) at `fallback`.
rewrite::PrecisionOverrides precision_overrides(const std::vector<Layer>& layers, const std::vector<size_t>& chosen,
                                                const rewrite::QuantPlan& plan, Fallback fallback);

// Multiply-accumulates of compute layers that a plan leaves fully 8-bit (every quantized input 8-bit,
// the node's float inputs all quantized), and of all compute nodes, over the layers' macs.
struct MacShare {
  int64_t int8 = 0, total = 0;
  double share() const { return total > 0 ? static_cast<double>(int8) / static_cast<double>(total) : 1.0; }
};
MacShare mac_share(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<int, int64_t>& macs);

}  // namespace ptq::search
