// SPDX-License-Identifier: Apache-2.0
// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration",
// arXiv 2306.00978), --weight-method awq: the input channels that carry large activations matter most, so
// before rounding, their weights are scaled up (finer relative grid) and the activation down by the same
// factor — SmoothQuant's rewrite (rewrite::scale_channels) with a searched scale:
//   per activation X read by MatMul/Gemm layers with quantized constant weights (rewrite::smooth_quant_readers,
//   all of them weight_method_layers), m_k = mean |X_k| over the collected columns of its first reader;
//   for α in {0, 1/20, ..., 19/20} (a grid of 20):
//     s = m^α / sqrt(max(m^α)·min(m^α))   (m_k floored at 1e-8 · max m)
//     loss(α) = Σ_readers ‖(Q(W·diag(s))·diag(s)⁻¹ − W)·X‖²   Q: the plan's weight quantizer with
//               parameters computed afresh from W·diag(s) (the plan's --weight-range observer)
//   s of the α with the smallest loss (α = 0, s = 1, is plain rounding to nearest: AWQ never does worse on
//   the collected columns). The losses use H = 2·X·Xᵀ/n (gptq.h's relative_output_error).
// The caller folds s (rewrite::scale_channels) and quantizes the scaled model again.
#pragma once

#include "ptq/calib/data_reader.h"
#include "ptq/transform/layer_inputs.h"
#include "ptq/transform/weight_method.h"

namespace ptq::transform {

constexpr int kAwqGrid = 20;

struct AwqOptions {
  std::string weight_range = "minmax";  // the plan's weight observer (calib::weight_observer_table)
  ColumnOptions columns;
  int threads = 0;
  bool progress = false;
};

// The α search for one activation: mean |x_k| (`mean_abs`), the readers' weight rows, H of X, and a
// quantizer giving Q(W') for a reader's scaled rows. Returns the chosen α; *scales, *loss_rtn, *loss get
// its s, the loss at α = 0 and at α.
float awq_search(const std::vector<double>& mean_abs, const std::vector<std::vector<float>>& rows_of_readers,
                 const std::vector<int64_t>& rows, const std::vector<double>& hessian,
                 const std::function<std::vector<float>(size_t reader, const std::vector<float>& scaled)>& quantize,
                 std::vector<double>* scales, double* loss_rtn, double* loss);

// AWQ's scales for every activation that qualifies (result.scales, .alphas; .layers: each reader with its
// errors relative to ‖W·X‖²). The graph is not changed; fold the scales with rewrite::scale_channels.
WeightMethodResult awq(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params,
                       const calib::DataReader& data, const AwqOptions& options);

}  // namespace ptq::transform
