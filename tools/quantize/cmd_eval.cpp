// SPDX-License-Identifier: Apache-2.0
// quantize eval FP32 QUANT --data DIR [--labels FILE] [--json] [--threads N] [data options: --samples,
// --batch-axis, image preprocessing]
#include <cstdio>
#include <memory>

#include "commands.h"
#include "load_graph.h"
#include "data_options.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/report/format.h"

namespace ptq::cli {

void register_eval_command(CLI::App& app, Action& action) {
  struct Options {
    std::string reference, candidate, data, labels;
    calib::DataOptions data_options;
    int threads = 0;
    bool json = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("eval", "Compare two models (e.g. FP32 and quantized) on the same samples");
  cmd->add_option("FP32", opts->reference, "Reference model")->required();
  cmd->add_option("QUANT", opts->candidate, "Model to compare against the reference")->required();
  cmd->add_option("--data", opts->data, "Data folder (sample-folder layout)")->required();
  cmd->add_option("--labels", opts->labels, "Class labels (.npy of integers or text, one per line) for accuracy");
  cmd->add_option("--threads", opts->threads, "Threads (default: all cores)")->check(whole_number());
  cmd->add_flag("--json", opts->json, "Print the result as JSON on stdout");
  add_data_options(*cmd, opts->data_options, "--samples");
  cmd->callback([opts, &action] {
    action = [opts] {
      onnx_io::LoadedModel ref_model, cand_model;
      Graph ref = load_graph(opts->reference, ref_model), cand = load_graph(opts->candidate, cand_model);
      auto data = calib::open_data(opts->data, ref.inputs, opts->data_options);
      report::EvalOptions eo;
      eo.threads = opts->threads;
      if (!opts->labels.empty()) eo.labels = report::read_labels(opts->labels);
      // Every tensor the two models share is compared.
      for (const auto& node : ref.nodes)
        for (const auto& o : node.outputs)
          if (!o.empty()) eo.tensors.push_back(report::TensorCompare{o, o, o, false, {}});
      report::EvalResult r = report::evaluate(ref, cand, *data, eo);
      // Where the error starts, as the main command reports it (no own-rounding figures here).
      const std::string hint = pipeline::precision_hint(ref, rewrite::QuantOptions{}, "", r);
      if (opts->json) {
        nlohmann::json j = report::eval_json(r);
        if (!hint.empty()) j["hint"] = hint;
        std::printf("%s\n", j.dump(2).c_str());
      } else {
        std::fprintf(stderr, "%s%s", report::format_eval(r).c_str(), hint.empty() ? "" : ("hint: " + hint + "\n").c_str());
      }
      return 0;
    };
  });
}

}  // namespace ptq::cli
