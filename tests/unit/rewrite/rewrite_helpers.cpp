// SPDX-License-Identifier: Apache-2.0
#include "rewrite_helpers.h"

#include <algorithm>
#include <cmath>

#include "ptq/ir/onnx_io.h"

namespace ptq::test {

calib::CalibTable make_table(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, Range>& ranges,
                             Range fallback) {
  calib::CalibTable table = rewrite::weight_table(graph, plan);
  for (const auto& t : rewrite::calib_targets(plan)) {
    if (t.is_weight) continue;
    auto it = ranges.find(t.tensor);
    calib::TensorCalib c;
    c.tensor = t.tensor;
    c.method = "test";
    c.qparams = compute_qparams(it == ranges.end() ? fallback : it->second, t.spec);
    table.tensors[t.tensor] = c;
  }
  return table;
}

Quantized quantize(const onnx::ModelProto& model, const rewrite::QuantOptions& options,
                   const std::map<std::string, Range>& ranges) {
  Quantized q;
  q.graph = build_graph(model);
  q.plan = rewrite::plan_quantization(q.graph, options);
  q.table = make_table(q.graph, q.plan, ranges);
  q.model = rewrite::rewrite_model(model, q.graph, q.plan, q.table);
  return q;
}

std::map<std::string, int> op_counts(const onnx::ModelProto& model) {
  std::map<std::string, int> counts;
  for (const auto& n : model.graph().node()) ++counts[n.domain().empty() ? n.op_type() : n.domain() + ":" + n.op_type()];
  return counts;
}

const onnx::NodeProto* find_node(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& n : model.graph().node())
    if (n.name() == name) return &n;
  return nullptr;
}

const onnx::NodeProto* producer_of(const onnx::ModelProto& model, const std::string& tensor) {
  for (const auto& n : model.graph().node())
    for (const auto& o : n.output())
      if (o == tensor) return &n;
  return nullptr;
}

const onnx::TensorProto* find_initializer(const onnx::ModelProto& model, const std::string& name) {
  for (const auto& t : model.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

Tensor initializer_value(const onnx::ModelProto& model, const std::string& name) {
  const onnx::TensorProto* t = find_initializer(model, name);
  if (!t) {
    ADD_FAILURE() << "no initializer '" << name << "'";
    return Tensor();
  }
  return onnx_io::tensor_from_proto(*t);
}

int64_t attr_int(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return a.i();
  return fallback;
}

std::string serialize(const onnx::ModelProto& model) {
  std::string bytes;
  model.SerializeToString(&bytes);
  return bytes;
}

calib::CalibOptions quiet_calib(const std::string& method) {
  calib::CalibOptions o;
  o.progress = false;
  o.threads = 1;
  o.method = method;
  return o;
}

exec::TensorMap run_model(const onnx::ModelProto& model, const exec::TensorMap& inputs) {
  exec::ExecOptions one;
  one.threads = 1;
  return exec::Executor(build_graph(model), one).run(inputs);
}

double channel_spread(const std::vector<double>& absmax) {
  return *std::max_element(absmax.begin(), absmax.end()) / *std::min_element(absmax.begin(), absmax.end());
}

onnx::ModelProto minmax_model(const onnx::ModelProto& model, const rewrite::QuantOptions& options,
                              const std::vector<exec::TensorMap>& calib) {
  const Graph g = build_graph(model);
  const rewrite::QuantPlan plan = rewrite::plan_quantization(g, options);
  MemoryReader data(calib);
  return rewrite::rewrite_model(model, g, plan, calib::calibrate(g, rewrite::calib_targets(plan), data, quiet_calib("minmax")));
}

double output_cosine(const onnx::ModelProto& want, const onnx::ModelProto& got, const std::vector<exec::TensorMap>& samples,
                     const std::string& name) {
  double dot = 0, na = 0, nb = 0;
  for (const auto& s : samples) {
    const Tensor a = run_model(want, s).at(name), b = run_model(got, s).at(name);
    for (int64_t i = 0; i < a.numel(); ++i) {
      dot += a.data<float>()[i] * b.data<float>()[i];
      na += a.data<float>()[i] * a.data<float>()[i];
      nb += b.data<float>()[i] * b.data<float>()[i];
    }
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace ptq::test
