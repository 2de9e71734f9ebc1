// SPDX-License-Identifier: Apache-2.0
// The pieces GPTQ and AWQ share (weight_method.h).
#include "ptq/transform/weight_method.h"

#include <algorithm>

#include "ptq/quant/scale.h"

namespace ptq::transform {

WeightGrid::WeightGrid(const LinearLayer& layer, const Shape& weight_shape, const QParams& params)
    : layer_(layer), shape_(weight_shape), params_(params) {}

size_t WeightGrid::index(int64_t o, int64_t k) const {
  // Flat index in the stored weight: [K, N] when transposed (MatMul, Gemm without transB), else [N, depth...].
  const int64_t flat = layer_.transposed ? k * layer_.rows + o : o * layer_.depth + k;
  return param_index(shape_, params_, flat);
}

float WeightGrid::fake_quantize(int64_t o, int64_t k, float w) const {
  const size_t c = index(o, k);
  return fake_quantize_value(w, params_.scale[c], params_.zero_point[c], params_.type);
}

double WeightMethodResult::mean_error_rtn() const { return mean_of(layers, &WeightMethodLayer::error_rtn); }
double WeightMethodResult::mean_error() const { return mean_of(layers, &WeightMethodLayer::error); }

std::string layer_label(const Graph& graph, const LinearLayer& layer) {
  const Node& n = graph.nodes[static_cast<size_t>(layer.node)];
  return n.name.empty() ? n.op_type + " writing '" + n.outputs[0] + "'" : n.name;
}

std::vector<LinearLayer> weight_method_layers(const Graph& g, const rewrite::QuantPlan& plan,
                                              const std::map<std::string, QParams>& params, std::vector<std::string>* skipped) {
  std::vector<LinearLayer> out;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!n.domain.empty() || (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul")) continue;
    std::string why;
    std::optional<LinearLayer> l = linear_layer(g, static_cast<int>(i), &why);
    if (l) {
      auto t = plan.tensors.find(l->weight);
      const auto p = params.find(l->weight);
      if (t == plan.tensors.end() || t->second.kind != rewrite::TensorPlan::Kind::Weight || t->second.integer || p == params.end())
        why = "its weight is not quantized";
      else if (qtype_bits(p->second.type) > 8)
        why = "its weight is quantized to more than 8 bits";
      else if (g.consumers(l->weight).size() != 1)
        why = "its weight is read by other nodes too";
      else if (l->groups != 1)
        why = "it has groups";
    }
    if (!why.empty()) {
      if (skipped) skipped->push_back((n.name.empty() ? n.op_type : n.name) + ": " + why);
      continue;
    }
    out.push_back(*l);
  }
  return out;
}

}  // namespace ptq::transform
