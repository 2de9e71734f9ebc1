// SPDX-License-Identifier: Apache-2.0
// What `quantize inspect` reports about a model: IR version, opsets, inputs/outputs, node count by op
// type, parameters by dtype, where weights live.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"

namespace ptq {

struct ParamStats {
  int64_t tensors = 0;
  int64_t params = 0;  // elements
  int64_t bytes = 0;
};

struct ModelInfo {
  std::string path;
  int64_t file_bytes = 0;
  int64_t ir_version = 0;
  std::string producer;
  std::map<std::string, int64_t> opsets;  // domain ("ai.onnx" for the default) -> version
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  int64_t node_count = 0;                       // all nodes, Constant and subgraph nodes included
  std::map<std::string, int64_t> op_counts;     // op type (domain-prefixed when not ai.onnx) -> count
  std::map<std::string, ParamStats> by_dtype;   // dtype name -> stats
  std::map<std::string, ParamStats> by_source;  // initializer / Constant / external -> stats
  ParamStats total;
  int64_t subgraphs = 0;
};

ModelInfo describe_model(const onnx_io::LoadedModel& model, const Graph& graph);
std::string format_model_info(const ModelInfo& info);
nlohmann::json model_info_json(const ModelInfo& info);
// "1.2 MB", "340 KB", "12 B".
std::string format_bytes(int64_t bytes);
// "1.23 G", "4.56 M", "7.8 k", "12".
std::string format_count(int64_t count);

}  // namespace ptq
