// SPDX-License-Identifier: Apache-2.0
// shape_stage (see stages.h): the value_info shape inference could neither give nor check (outputs of
// custom-domain ops, of nodes after an inference error, of ops newer than ONNX 1.12), and the node
// outputs nothing types, observed on one sample (so the plan can quantize past them). One sample is
// enough: apply_observed_shapes writes observed dims as numbers only when the graph inputs are static,
// so the shapes do not depend on the sample. Without calibration or evaluation
// samples (dynamic mode), --calib or --eval-data is opened only for a graph output without a shape (the
// one thing a written model cannot do without); other entries then stay as declared.
#include <mutex>
#include <set>

#include "ptq/exec/executor.h"
#include "ptq/ir/value_info_repair.h"
#include "ptq/util/log.h"
#include "stages.h"

namespace ptq::pipeline {
namespace {

// The first reader with samples: the split's, else --calib, else --eval-data (dynamic mode opens neither).
std::unique_ptr<calib::DataReader> open_any(const QuantizeJob& job, const Graph& graph) {
  calib::DataOptions dopt = job.data;
  dopt.max_samples = 1;
  for (const auto& dir : {job.calib_dir, job.eval_dir})
    if (!dir.empty()) return calib::open_data(dir, graph.inputs, dopt);
  return nullptr;
}

// Node outputs of the model's graph that neither the model nor shape inference typed.
std::vector<std::string> untyped_tensors(const Graph& graph) {
  std::vector<std::string> out;
  for (const Node& node : graph.nodes)
    for (const auto& o : node.outputs) {
      const ValueInfo* vi = o.empty() ? nullptr : graph.info(o);
      if (!o.empty() && (!vi || vi->dtype == DType::Undefined)) out.push_back(o);
    }
  return out;
}

}  // namespace

void shape_stage(const QuantizeJob& job, Prepared& prep, const DataSplit& data, bool written) {
  std::vector<std::string> unverified = prep.value_info.unverified;
  for (const auto& name : untyped_tensors(prep.graph)) unverified.push_back(name);
  if (unverified.empty()) return;
  std::unique_ptr<calib::DataReader> opened;
  const calib::DataReader* reader = data.calib ? data.calib.get() : data.eval.get();
  std::string untyped;
  const bool outputs_untyped = !outputs_typed(prep.model, &untyped);
  if (!reader && outputs_untyped) reader = (opened = open_any(job, prep.graph)).get();
  if (!reader || reader->size() == 0) {
    if (written && prep.value_info.inference_trusted && outputs_untyped)
      PTQ_FAIL(ModelError, job.model, ": graph output '", untyped, "' has no type or shape and shape inference cannot give one; ",
               "give samples (--calib DIR) so that ptq observes it");
    return;
  }
  const std::set<std::string> wanted(unverified.begin(), unverified.end());
  std::map<std::string, ObservedShape> seen;
  std::mutex lock;
  exec::Tap tap = [&](const std::string& name, const Tensor& value) {
    if (!wanted.count(name)) return;
    std::lock_guard<std::mutex> guard(lock);
    seen[name] = ObservedShape{value.dtype(), value.shape()};
  };
  const calib::Sample sample = reader->read(0);
  exec::RunOptions run;
  run.tap = &tap;
  exec::Executor(prep.graph, exec::ExecOptions{job.calib.threads, false}).run(sample.tensors, run);
  for (const auto& note : apply_observed_shapes(prep.model, seen)) log::warn(job.model, ": ", note);
  log::debug("value_info: ", seen.size(), " of ", wanted.size(), " unverified tensors observed on sample ", sample.id);
  GraphOptions options{true, prep.loaded.external_tensors};
  options.mapped = &prep.loaded.mapped;
  prep.graph = build_graph(prep.model, options);
  prep.plan = rewrite::plan_quantization(prep.graph, job.quant);
  prep.value_info.unverified.clear();
}

}  // namespace ptq::pipeline
