// SPDX-License-Identifier: Apache-2.0
// What the data-driven weight methods of --weight-method (GPTQ: gptq.h, AWQ: awq.h) share: the layers they
// apply to, the quantization grid of each weight element, and their result.
//
// A layer qualifies when it is a Gemm/MatMul/Conv with one group (linear_layer.h) whose weight the plan
// quantizes (per tensor, per output channel or in blocks along the input axis, at most 8 bits) and that
// only this node reads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ptq/rewrite/quantizer.h"
#include "ptq/transform/linear_layer.h"

namespace ptq::transform {

// The mean of one field over a method's per-layer reports (0 when there is none).
template <class Layer>
double mean_of(const std::vector<Layer>& layers, double Layer::*field) {
  double s = 0.0;
  for (const auto& l : layers) s += l.*field;
  return layers.empty() ? 0.0 : s / static_cast<double>(layers.size());
}

// Element (o, k) of a layer's weight rows (weight_rows: output channel o, input k) and its parameters.
class WeightGrid {
 public:
  WeightGrid(const LinearLayer& layer, const Shape& weight_shape, const QParams& params);
  // The index into params.scale / zero_point of element (o, k).
  size_t index(int64_t o, int64_t k) const;
  // dequantize(quantize(w)) with element (o, k)'s parameters, as DequantizeLinear computes it.
  float fake_quantize(int64_t o, int64_t k, float w) const;

 private:
  const LinearLayer& layer_;
  Shape shape_;
  const QParams& params_;
};

struct WeightMethodLayer {
  std::string label;  // node name, or "<op> writing <output>"
  std::string op_type, weight;
  int64_t rows = 0, depth = 0;
  size_t columns = 0;
  // Σ‖(Ŵ − W)·X‖² / Σ‖W·X‖² on the collected columns: Ŵ rounded to nearest (RTN), and with the method.
  double error_rtn = 0.0, error = 0.0;
};

struct WeightMethodResult {
  std::map<std::string, Tensor> weights;  // GPTQ: the new weights (on the grid of their parameters)
  // AWQ: per activation X, the scale s_j of each input channel (X / s, the readers' rows · s), and α.
  std::map<std::string, std::vector<double>> scales;
  std::map<std::string, float> alphas;
  std::vector<WeightMethodLayer> layers;  // graph order
  std::vector<std::string> skipped;       // "label: reason"
  size_t samples = 0;
  double seconds = 0.0;
  double mean_error_rtn() const;  // over the layers
  double mean_error() const;
};

// The layers of `plan` the weight methods apply to, in graph order; the others (Conv/Gemm/MatMul) as
// "label: reason" in *skipped.
std::vector<LinearLayer> weight_method_layers(const Graph& graph, const rewrite::QuantPlan& plan,
                                              const std::map<std::string, QParams>& params,
                                              std::vector<std::string>* skipped);
std::string layer_label(const Graph& graph, const LinearLayer& layer);

}  // namespace ptq::transform
