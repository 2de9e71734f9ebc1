// SPDX-License-Identifier: Apache-2.0
// quantize eval FP32 QUANT --data DIR [--labels FILE] [--json] [--threads N] [data options: --samples,
// --batch-axis, image preprocessing] [--target-cosine C] [--max-drop P]: with a tolerance, a CI gate on an
// already-quantized model: exit code 3 and one `error:` line (pipeline::tolerance_miss) when it is missed.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "load_graph.h"
#include "data_options.h"
#include "ptq/ir/onnx_io.h"
#include "ptq/pipeline/quantize.h"
#include "ptq/report/format.h"

namespace ptq::cli {
namespace {

// What the candidate's readers see of tensor `t`: the output of the DequantizeLinear after a
// QuantizeLinear of `t` when there is such a pair (the quantized value, this tensor's own rounding
// included; and where a quantizer dropped a Relu/Clip whose range its grid clamps, the producer now
// writes `t` unclamped and only the Q/DQ pair gives the Relu's values), else `t` itself.
std::string as_read(const Graph& g, const std::string& t) {
  for (int q : g.consumers(t)) {
    const Node& qn = g.nodes[static_cast<size_t>(q)];
    if (qn.op_type != "QuantizeLinear" || qn.input(0) != t || qn.outputs.empty()) continue;
    for (int d : g.consumers(qn.outputs[0])) {
      const Node& dn = g.nodes[static_cast<size_t>(d)];
      if (dn.op_type == "DequantizeLinear" && dn.input(0) == qn.outputs[0] && !dn.outputs.empty()) return dn.outputs[0];
    }
  }
  return t;
}

}  // namespace

void register_eval_command(CLI::App& app, Action& action) {
  struct Options {
    std::string reference, candidate, data, labels, html;
    calib::DataOptions data_options;
    int threads = 0;
    bool json = false;
    search::Tolerance tolerance;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("eval", "Compare two models (e.g. FP32 and quantized) on the same samples");
  cmd->add_option("FP32", opts->reference, "Reference model")->required();
  cmd->add_option("QUANT", opts->candidate, "Model to compare against the reference")->required();
  cmd->add_option("--data", opts->data, "Data folder (sample-folder layout)")->required();
  cmd->add_option("--labels", opts->labels, "Class labels (.npy of integers or text, one per line) for accuracy");
  cmd->add_option("--threads", opts->threads, "Threads (default: all cores)")->check(whole_number());
  cmd->add_flag("--json", opts->json, "Print the result as JSON on stdout");
  cmd->add_option("--html", opts->html, "Also write a self-contained HTML report (per-tensor error, precision per node)");
  cmd->add_option("--target-cosine", opts->tolerance.target_cosine,
                  "Gate: exit code 3 when any output's cosine with the reference is below C")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-drop", opts->tolerance.max_drop,
                  "Gate: exit code 3 when top-1 accuracy is more than P points below the reference's (needs --labels)")
      ->check(CLI::Range(0.0, 100.0));
  add_data_options(*cmd, opts->data_options, "--samples");
  cmd->callback([opts, &action, &app] {
    action = [opts, &app] {
      if (opts->tolerance.max_drop >= 0.0 && opts->labels.empty())
        throw UsageError("--max-drop needs class labels (--labels FILE)");
      if (!opts->html.empty()) onnx_io::check_destination(opts->html);
      onnx_io::LoadedModel ref_model, cand_model;
      Graph ref = load_graph(opts->reference, ref_model), cand = load_graph(opts->candidate, cand_model);
      auto data = calib::open_data(opts->data, ref.inputs, opts->data_options);
      report::EvalOptions eo;
      eo.threads = opts->threads;
      if (!opts->labels.empty()) eo.labels = report::read_labels(opts->labels);
      // Every tensor the two models share is compared, as the candidate's readers see it.
      for (const auto& node : ref.nodes)
        for (const auto& o : node.outputs)
          if (!o.empty()) eo.tensors.push_back(report::TensorCompare{o, o, as_read(cand, o), false, {}});
      report::EvalResult r = report::evaluate(ref, cand, *data, eo);
      // Where the error starts, as the main command reports it (no own-rounding figures here).
      const std::string hint = pipeline::precision_hint(ref, rewrite::QuantOptions{}, "", r);
      const std::string miss = opts->tolerance.active() ? pipeline::tolerance_miss(opts->tolerance, r, data->describe()) : "";
      if (!opts->html.empty()) {
        const std::string gate = !opts->tolerance.active() ? "" : miss.empty() ? "met" : miss;
        pipeline::write_eval_html(opts->html, {opts->reference, opts->candidate, data->describe(), ref, cand, r, gate});
      }
      if (opts->json) {
        nlohmann::json j = report::eval_json(r);
        j["schema"] = report::kJsonSchema;
        if (!hint.empty()) j["hint"] = hint;
        if (opts->tolerance.target_cosine > 0.0) j["target_cosine"] = opts->tolerance.target_cosine;
        if (opts->tolerance.max_drop >= 0.0) j["max_drop"] = opts->tolerance.max_drop;
        if (opts->tolerance.active()) j["met"] = miss.empty();
        std::printf("%s\n", j.dump(2).c_str());
      } else if (!app.get_option("--quiet")->as<bool>()) {  // -q: the gate's verdict and errors only
        std::fprintf(stderr, "%s%s", report::format_eval(r).c_str(), hint.empty() ? "" : ("hint: " + hint + "\n").c_str());
      }
      if (!miss.empty()) {
        std::fprintf(stderr, "error: %s (exit code 3)\n", miss.c_str());
        return 3;
      }
      return 0;
    };
  });
}

}  // namespace ptq::cli
