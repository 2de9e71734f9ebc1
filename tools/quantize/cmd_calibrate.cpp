// SPDX-License-Identifier: Apache-2.0
// quantize calibrate MODEL --calib DIR --table FILE [--method kl] ...: calibration only, the table as JSON.
// The targets come from default_targets() below until the rewriter's QuantPlan provides them.
#include <memory>
#include <set>

#include "commands.h"
#include "data_options.h"
#include "ptq/calib/calibrator.h"
#include "ptq/calib/observer.h"
#include "ptq/ir/onnx_io.h"

namespace ptq::cli {
namespace {

struct Options {
  std::string model, data, table, activation_type = "uint8", weight_type = "int8";
  bool symmetric_activations = false, per_tensor_weights = false, all_tensors = false, quiet = false;
  calib::CalibOptions calib;
  calib::DataOptions data_options;
};

bool is_float(const Graph& g, const std::string& name) {
  const ValueInfo* vi = g.info(name);
  return !vi || dtype_is_float(vi->dtype);
}

// Temporary stand-in for the rewriter's plan: the float inputs and outputs of Conv, ConvTranspose,
// Gemm and MatMul, weights per channel (Conv 0, ConvTranspose 1, Gemm transB ? 0 : 1, MatMul last);
// with --all-tensors every float graph input and node output as well.
std::vector<calib::CalibTarget> default_targets(const Graph& g, const Options& o) {
  QuantSpec act{qtype_from_name(o.activation_type), o.symmetric_activations, false};
  QuantSpec wt{qtype_from_name(o.weight_type), true, false};
  std::vector<calib::CalibTarget> targets;
  std::set<std::string> seen;
  auto add = [&](const std::string& name, int axis) {
    if (name.empty() || !is_float(g, name) || !seen.insert(name).second) return;
    bool weight = g.is_weight(name);
    targets.push_back({name, weight ? wt : act, weight && !o.per_tensor_weights ? axis : -1, weight});
  };
  for (const auto& in : g.inputs)
    if (o.all_tensors) add(in.name, -1);
  for (const auto& n : g.nodes) {
    bool quantizable = n.op_type == "Conv" || n.op_type == "ConvTranspose" || n.op_type == "Gemm" || n.op_type == "MatMul";
    if (!quantizable && !o.all_tensors) continue;
    int axis = n.op_type == "ConvTranspose" ? 1 : n.op_type == "Gemm" ? (n.attr_int("transB", 0) ? 0 : 1) : 0;
    for (size_t i = 0; quantizable && i < std::min<size_t>(n.inputs.size(), 2); ++i) {
      const Tensor* w = g.weight(n.inputs[i]);
      add(n.inputs[i], i == 1 && n.op_type == "MatMul" && w ? w->rank() - 1 : (i == 1 ? axis : -1));
    }
    for (const auto& out : n.outputs) add(out, -1);
  }
  return targets;
}

}  // namespace

void register_calibrate_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("calibrate", "Calibrate a model on sample data and write the calibration table (JSON)");
  cmd->add_option("MODEL", o->model, "ONNX model")->required();
  cmd->add_option("--calib", o->data, "Calibration data: sample folders (.npy), .npz, test_data_set_N/*.pb or images")->required();
  cmd->add_option("--table", o->table, "Output calibration table (JSON)")->required();
  std::string methods;
  for (const auto& e : calib::observer_table()) methods += std::string("\n  ") + e.name + ": " + e.help;
  cmd->add_option("--method", o->calib.method, "Calibration method (default kl):" + methods)->check([](const std::string& m) {
    try {
      calib::find_observer(m);
      return std::string();
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
  });
  cmd->add_option("--percentile", o->calib.percentile, "Percentile kept by --method percentile");
  cmd->add_option("--moving-average", o->calib.moving_average, "EMA constant for --method minmax (0: running min/max)");
  cmd->add_option("--activation-type", o->activation_type, "Activation type")->check(CLI::IsMember({"uint8", "int8", "uint16", "int16"}));
  cmd->add_option("--weight-type", o->weight_type, "Weight type")->check(CLI::IsMember({"int8", "uint8", "int16"}));
  cmd->add_flag("--symmetric-activations", o->symmetric_activations, "Symmetric activation ranges");
  cmd->add_flag("--per-tensor-weights", o->per_tensor_weights, "One weight scale per tensor instead of per channel");
  cmd->add_flag("--all-tensors", o->all_tensors, "Calibrate every float tensor, not only Conv/Gemm/MatMul inputs and outputs");
  cmd->add_option("--threads", o->calib.threads, "Threads (0: all cores)");
  add_data_options(*cmd, o->data_options);
  cmd->callback([o, &app, &action] {
    action = [o, &app] {
      o->calib.progress = !app.get_option("--quiet")->as<bool>();
      onnx_io::LoadedModel model = onnx_io::load_model(o->model);
      GraphOptions graph_options;
      graph_options.external_tensors = model.external_tensors;
      Graph graph = build_graph(model.proto, graph_options);
      auto data = calib::open_data(o->data, graph.inputs, o->data_options);
      auto targets = default_targets(graph, *o);
      if (targets.empty()) PTQ_FAIL(UsageError, o->model, ": nothing to calibrate (no Conv/Gemm/MatMul; try --all-tensors)");
      calib::CalibTable table = calib::calibrate(graph, targets, *data, o->calib);
      table.model = o->model;
      calib::save_table(table, o->table);
      return 0;
    };
  });
}

}  // namespace ptq::cli
