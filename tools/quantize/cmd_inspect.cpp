// SPDX-License-Identifier: Apache-2.0
// quantize inspect MODEL [--json]
#include <cstdio>
#include <memory>

#include "commands.h"
#include "ptq/ir/model_info.h"
#include "ptq/report/format.h"

namespace ptq::cli {

void register_inspect_command(CLI::App& app, Action& action) {
  struct Options {
    std::string model;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("inspect", "Summarize a model: IR version, opsets, inputs/outputs, ops, weights");
  cmd->add_option("MODEL", opts->model, "ONNX model")->required();
  cmd->add_flag("--json", opts->json, "Print JSON on stdout");
  cmd->callback([opts, &action] {
    action = [opts] {
      onnx_io::LoadedModel model = onnx_io::load_model(opts->model);
      GraphOptions graph_options;
      graph_options.external_tensors = model.external_tensors;
      Graph graph = build_graph(model.proto, graph_options);
      ModelInfo info = describe_model(model, graph);
      if (opts->json) {
        nlohmann::json j = {{"schema", report::kJsonSchema}};
        j.update(model_info_json(info));
        std::printf("%s\n", j.dump(2).c_str());
      }
      else std::printf("%s", format_model_info(info).c_str());
      return 0;
    };
  });
}

}  // namespace ptq::cli
