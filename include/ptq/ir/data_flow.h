// SPDX-License-Identifier: Apache-2.0
// Which tensors carry data and which nodes compute on it. A tensor *depends on data* when its value
// changes with the values of a graph input: graph inputs do; weights do not; Shape and Size outputs do
// not (they see only the shape); any other node output does when one of its inputs (explicit, or
// implicit through a subgraph) does. A node is a *float compute node* when it reads or writes a
// float tensor that depends on data; every other node is *shape arithmetic*: int64 Shape/Gather/
// Concat/Unsqueeze of dimensions, Cast of dims, Range/ConstantOfShape, masks built from constants and
// sequence lengths, even float ones (Cast(dim) → Sqrt: an attention scale computed at run time).
#pragma once

#include <string>
#include <unordered_set>
#include <vector>

#include "ptq/ir/graph.h"

namespace ptq {

struct DataFlow {
  std::unordered_set<std::string> data;  // tensors that depend on data
  std::vector<bool> compute;             // per Graph::nodes entry: a float compute node
  bool depends_on_data(const std::string& tensor) const { return data.count(tensor) != 0; }
};

DataFlow analyze_data_flow(const Graph& graph);

// A node that passes its input's values on in another shape or order (Reshape, Transpose, Squeeze,
// Unsqueeze, Flatten, Identity; default domain).
bool moves_data(const Node& node);

}  // namespace ptq
