// SPDX-License-Identifier: Apache-2.0
// One register_*_command per subcommand file. A command's callback stores what to run in `action`;
// main() runs it after parsing, inside its single catch-all.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace ptq::cli {

using Action = std::function<int()>;

void register_inspect_command(CLI::App& app, Action& action);
void register_run_command(CLI::App& app, Action& action);
void register_calibrate_command(CLI::App& app, Action& action);
void register_eval_command(CLI::App& app, Action& action);

}  // namespace ptq::cli
