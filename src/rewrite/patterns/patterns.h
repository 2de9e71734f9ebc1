// SPDX-License-Identifier: Apache-2.0
// Patterns: groups of nodes the planner quantizes as one unit, with Q/DQ on the activations the group
// reads from outside and on its one output, and float arithmetic inside. They are what exporters write
// for one op (PyTorch's Erf-GELU, a LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div): quantizing
// their internals costs accuracy for no speed (no runtime has integer kernels for Erf, Pow or Sqrt), and
// float internals let ONNX Runtime fuse the group into its own kernel (GeluFusion, LayerNormFusion).
// One matcher per file; the table (qdq_patterns.cpp) is keyed by the op type the match starts from.
#pragma once

#include <string>
#include <vector>

#include "ptq/ir/graph.h"

namespace ptq::rewrite {

struct PatternMatch {
  std::vector<int> nodes;           // members (Graph::nodes indices)
  std::vector<std::string> inputs;  // float activations the members read from outside the group
  std::string output;               // the group's output, written by the last member
};

// True when the node at `anchor` starts a match (filled into `match`).
using PatternMatcher = bool (*)(const Graph& graph, int anchor, PatternMatch& match);

struct PatternEntry {
  const char* anchor;  // op type of the node the matcher starts from
  const char* name;    // pattern name, the members' rule family in reports
  PatternMatcher match;
};

const std::vector<PatternEntry>& qdq_pattern_table();

// erf_gelu.cpp
bool match_erf_gelu(const Graph& graph, int anchor, PatternMatch& match);
// layer_norm_pattern.cpp
bool match_layer_norm(const Graph& graph, int anchor, PatternMatch& match);

// Helpers for matchers (qdq_patterns.cpp).
// The only reader of `tensor` when it has exactly one and is not a graph output, else -1.
int single_reader(const Graph& graph, const std::string& tensor);
// The constant scalar value of `tensor` (a weight with one element), or false.
bool scalar_constant(const Graph& graph, const std::string& tensor, float& value);
// The other input of a two-input node, given one of them ("" when `known` is not an input).
std::string other_input(const Node& node, const std::string& known);
// Whether every reader of every member's outputs, except `output`, is a member.
bool closed_group(const Graph& graph, const PatternMatch& match);

}  // namespace ptq::rewrite
