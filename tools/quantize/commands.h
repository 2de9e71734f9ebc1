// SPDX-License-Identifier: Apache-2.0
// One register_*_command per subcommand file. A command's callback stores what to run in `action`;
// main() runs it after parsing, inside its single catch-all.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace ptq::cli {

using Action = std::function<int()>;

// A whole number >= 0 (counts, thread numbers), with a plain message for anything else.
inline CLI::Validator whole_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return "expected a whole number >= 0, got '" + s + "'";
        return {};
      },
      "N>=0");
}

// The main command's options live on the app itself (quantize MODEL ...).
void register_quantize_command(CLI::App& app, Action& action);
void register_inspect_command(CLI::App& app, Action& action);
void register_check_command(CLI::App& app, Action& action);
void register_run_command(CLI::App& app, Action& action);
void register_calibrate_command(CLI::App& app, Action& action);
void register_eval_command(CLI::App& app, Action& action);
void register_sensitivity_command(CLI::App& app, Action& action);

}  // namespace ptq::cli
