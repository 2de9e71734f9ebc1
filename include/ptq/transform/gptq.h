// SPDX-License-Identifier: Apache-2.0
// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
// Transformers", arXiv 2210.17323), --weight-method gptq: per layer, the weights are rounded one input
// column at a time and each column's rounding error is spread over the columns not yet rounded, so that
// the layer's output on the calibration inputs X [depth, n] changes least:
//   H = 2·X·Xᵀ / n;  dead inputs (H_kk = 0): H_kk ← 1, W[:, k] ← 0;
//   act_order: columns in order of decreasing H_kk (permuted back at the end);
//   H ← H + λ·I, λ = damp · mean(diag H) (damp 0.01); U = the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU);
//   for each block of `block` (128) columns, for each column k in it:
//     q = Q(w_k) (each element with its own grid: the plan's parameters, fixed beforehand — "static
//     groups", so act_order and blocks along K agree), e = (w_k − q) / U_kk,
//     W[:, j] −= e · U_kj for the block's later columns j; after the block, the same for every later
//     column at once (the lazy batch update).
// The result lies on the grid: Q applied by the rewrite with the same parameters stores the same integers.
// X: the layer's inputs in the FP32 model (LayerColumns, seeded positions: deterministic whatever the
// thread count). Errors reported as Σ Δ·H·Δᵀ / Σ W·H·Wᵀ (undamped H), the relative output error on X.
#pragma once

#include <functional>
#include <vector>

#include "ptq/calib/data_reader.h"
#include "ptq/transform/layer_inputs.h"
#include "ptq/transform/weight_method.h"

namespace ptq::transform {

struct GptqOptions {
  double damp = 0.01;     // λ = damp · mean(diag H)
  int64_t block = 128;    // columns per lazy batch
  bool act_order = false; // columns by decreasing H_kk
  ColumnOptions columns;  // per layer
  int threads = 0;
  bool progress = false;
};

// The core on one matrix: W [rows, depth] row-major, H [depth, depth] row-major (2·X·Xᵀ/n), quantize(o, k,
// w) the grid of element (o, k). Returns the rounded W (every value a quantize() result). Throws Error when
// H + λ·I is not positive definite even after raising λ a hundredfold.
std::vector<float> gptq_rows(const std::vector<float>& w, int64_t rows, int64_t depth, std::vector<double> hessian,
                             const std::function<float(int64_t, int64_t, float)>& quantize, const GptqOptions& options);

// Σ_o Δ_o·H·Δ_oᵀ / Σ_o W_o·H·W_oᵀ with Δ = approx − w (rows of [rows, depth]); 0 when the denominator is.
double relative_output_error(const std::vector<float>& w, const std::vector<float>& approx, int64_t rows, int64_t depth,
                             const std::vector<double>& hessian);
// H = 2·X·Xᵀ / n of columns X [depth, n].
std::vector<double> hessian_of(const Columns& x);

// GPTQ on every layer of weight_method_layers(plan): the new weights by name. The graph is not changed.
WeightMethodResult gptq(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params,
                        const calib::DataReader& data, const GptqOptions& options);

}  // namespace ptq::transform
