// SPDX-License-Identifier: Apache-2.0
// load_graph (see load_graph.h).
#include "load_graph.h"

#include "ptq/ir/value_info_repair.h"
#include "ptq/util/log.h"

namespace ptq::cli {

Graph load_graph(const std::filesystem::path& path, onnx_io::LoadedModel& loaded) {
  onnx_io::LoadOptions load;
  load.map_external = true;
  loaded = onnx_io::load_model(path, load);
  for (const auto& note : repair_value_info(loaded.proto).notes) log::warn(path.string(), ": ", note);
  GraphOptions options;
  options.external_tensors = loaded.external_tensors;
  options.mapped = &loaded.mapped;
  return build_graph(loaded.proto, options);
}

}  // namespace ptq::cli
