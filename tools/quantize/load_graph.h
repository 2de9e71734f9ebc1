// SPDX-License-Identifier: Apache-2.0
// load_graph: a model for the commands that only run it (run, eval), with its external data
// memory-mapped, not read (the weights are views of the file, as in the main command).
#pragma once

#include <filesystem>

#include "ptq/ir/graph.h"
#include "ptq/ir/onnx_io.h"

namespace ptq::cli {

// Loads `path` into `loaded` (which must outlive the graph), repairs its value_info with shape inference
// (a warning per contradicting entry replaced) and builds the graph over the mapping.
Graph load_graph(const std::filesystem::path& path, onnx_io::LoadedModel& loaded);

}  // namespace ptq::cli
