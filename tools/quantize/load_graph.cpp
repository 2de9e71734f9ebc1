// SPDX-License-Identifier: Apache-2.0
// load_graph (see load_graph.h).
#include "load_graph.h"

namespace ptq::cli {

Graph load_graph(const std::filesystem::path& path, onnx_io::LoadedModel& loaded) {
  onnx_io::LoadOptions load;
  load.map_external = true;
  loaded = onnx_io::load_model(path, load);
  GraphOptions options;
  options.external_tensors = loaded.external_tensors;
  options.mapped = &loaded.mapped;
  return build_graph(loaded.proto, options);
}

}  // namespace ptq::cli
