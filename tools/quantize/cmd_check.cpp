// SPDX-License-Identifier: Apache-2.0
// quantize check MODEL --target X [--json]: every (node, rule) of the target's table row that a Q/DQ model
// breaks (rewrite::check_target), one line each on stdout. Exit 0 when clean, 3 when a rule is broken.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/rewrite/target.h"

namespace ptq::cli {

void register_check_command(CLI::App& app, Action& action) {
  struct Options {
    std::string model, target;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("check", "List every rule of a deployment target that a Q/DQ model breaks (exit 3 if any)");
  cmd->add_option("MODEL", opts->model, "Quantized ONNX model")->required();
  std::string targets;
  for (const auto& t : rewrite::target_table()) targets += std::string("\n  ") + t.name + ": " + t.help;
  cmd->add_option("--target", opts->target, "Deployment target:" + targets)->required()->check(CLI::IsMember([] {
    std::vector<std::string> names;
    for (const auto& t : rewrite::target_table()) names.push_back(t.name);
    return names;
  }()));
  cmd->add_flag("--json", opts->json, "Print JSON on stdout");
  cmd->callback([opts, &action] {
    action = [opts] {
      onnx_io::LoadedModel model = onnx_io::load_model(opts->model);
      std::vector<rewrite::Violation> v = rewrite::check_target(model.proto, rewrite::find_target(opts->target));
      if (opts->json) {
        nlohmann::json j = {{"schema", 1}, {"model", opts->model}, {"target", opts->target}, {"ok", v.empty()},
                            {"violations", nlohmann::json::array()}};
        for (const auto& x : v) j["violations"].push_back({{"node", x.node}, {"rule", x.rule}, {"what", x.what}});
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        for (const auto& x : v) std::printf("%s: %s: %s\n", x.node.empty() ? "(model)" : x.node.c_str(), x.rule.c_str(), x.what.c_str());
      }
      std::fprintf(stderr, "%s: %zu violation(s) of --target %s\n", opts->model.c_str(), v.size(), opts->target.c_str());
      return v.empty() ? 0 : 3;
    };
  });
}

}  // namespace ptq::cli
