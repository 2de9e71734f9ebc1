// SPDX-License-Identifier: Apache-2.0
// AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training Quantization",
// arXiv 2004.10568): per Conv/Gemm/MatMul weight, whether each element rounds up or down, learned by
// layer-wise reconstruction on the calibration samples, layer after layer in graph order.
//
// For a layer (linear_layer.h) with weight scale s per output channel and its integer grid [n, p] (the
// type's range minus the zero point, what QuantizeLinear saturates to), each weight element becomes
//   W̃ = s·(⌊W/s⌋ + h(V)),   h(V) = clip(σ(V)·(ζ − γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1
// with V initialised so that h(V) = W/s − ⌊W/s⌋ (W̃ = W). Elements whose ⌊W/s⌋ lies outside [n, p − 1]
// are not learned: they keep the saturated nearest value. V minimises, by Adam (β1 0.9, β2 0.999, lr
// 1e-3 at 10k iterations as quic/aimet and yhhhli/BRECQ, scaled by 10k / iterations otherwise), over
// batches of columns of the collected data:
//   (1/B)·Σ_columns ‖f(W̃·X_q + b) − f(W·X + b)‖²  +  λ·Σ (1 − |2h(V) − 1|^β)
//   X_q: the layer's input in the quantized model with the layers before it already AdaRounded (every
//        quantizer on; X itself with float_inputs), X: its input in the FP32 model, at the same positions
//        (layer_inputs.h);
//   f: the Relu or Clip that alone reads the layer's output (through_activation), else the identity;
//   λ = 0.01; the regulariser is off for the first 20 % of the iterations, then β decays linearly from
//   20 to 2 (BRECQ's LinearTempDecay).
// The result rounds up where V ≥ 0 (h ≥ 0.5). The last `holdout` share of the collected columns (the last
// samples') is not learned on: an output channel whose learned rounding reconstructs those held-out
// columns worse than nearest rounding keeps nearest rounding (judged on the training columns, a layer
// with fewer columns than weights per channel, e.g. a classifier on 256 images, always looked better).
// Scale search (ScaleSearch::Learned, the default, on grids of at most 16 levels): per output channel, the multiples m·s of its scale
// s (m in 0.75 .. 1.25 by 0.05) are screened by the error of their nearest rounding on up to 1024
// training columns; the best m ≠ 1 is learned too, and the channel keeps whichever of s and m·s
// reconstructs the held-out columns better (twice the optimisation time). The new scales go into the
// result's params (rescaled_table) and into the simulator, so later layers see them. The new weight is
// s·(q − zero point) computed as DequantizeLinear computes it, so the rewrite, quantizing it with the
// same parameters, stores exactly the learned integers q.
// With correct_bias, the rounding is learned against the bias corrected for the FP32 weights on X_q
// (b − mean(W·X_q + b − W·X − b)), and each rounded layer's bias then loses the mean output error left on
// the collected columns, b ← b − mean(W̃·X_q + b − W·X − b) (Gemm: C ← C − ·/beta), before the samples move on: the
// empirical bias correction of the rounded weights on the quantized model's inputs (also removing the
// mean shift the quantized layers above cause). Layers without a bias of their own are left as they are.
//
// Output channels are independent problems (each only changes its own output), so the work is split
// into fixed blocks of channels (per group) that run on all threads; with fixed seeds (the columns'
// positions, the batch order) the result does not depend on the thread count.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ptq/calib/data_reader.h"
#include "ptq/rewrite/quantizer.h"
#include "ptq/transform/layer_inputs.h"

namespace ptq::transform {

constexpr float kZeta = 1.1f, kGamma = -0.1f;

// h(V), dh/dV (0 where clipped), and the V with h(V) = h for h in [0, 1].
float rectified_sigmoid(float v);
float rectified_sigmoid_grad(float v);
float rectified_sigmoid_inverse(float h);

// Per output channel, the weight scale AdaRound learns on (see the header comment).
enum class ScaleSearch {
  Off,      // the table's scale
  Nearest,  // the multiple of it whose nearest rounding reconstructs best
  Learned,  // the table's and the best other multiple both learned; the better on the held-out columns
};

struct AdaRoundOptions {
  int iterations = 2000;  // per layer (the paper: 10k; see the README for the cost)
  size_t batch = 256;     // columns per iteration
  // Adam's step size; 0: 1e-3 · 10000 / iterations — the paper's 1e-3 at its 10k iterations, larger for
  // fewer so that V can still travel as far (h(V) saturates only ~2.4 away from 0).
  float learning_rate = 0.0f;
  float lambda = 0.01f;  // regulariser weight
  float beta_start = 20.0f, beta_end = 2.0f;
  float warmup = 0.2f;             // share of the iterations without regulariser
  bool through_activation = true;  // f = the Relu/Clip reading the layer's output
  bool correct_bias = false;       // in-pass bias correction (see above)
  // X_q := X: each layer learns on its FP32 inputs (symmetric reconstruction, the paper's ablation),
  // so its rounding does not count on the errors of the layers above, which a precision search may
  // take out of 8 bits afterwards (the asymmetric rounding then over-corrects: YOLOX-nano needed 213
  // promoted layers instead of 52 to reach --target-cosine 0.99). With correct_bias, the shift removed is
  // the layer's own.
  bool float_inputs = false;
  // QDrop (Wei et al. 2022): the probability that an element of a batch's X_q is replaced by its FP32
  // value X (0: off; QDrop uses 0.5). Needs the FP32 inputs too: a second trace per sample in pass 2.
  float drop_probability = 0.0f;
  // The share of the columns (the last ones: the last samples) not learned on: each output channel's
  // choice between its learned and its nearest rounding, and the errors reported, are made on them.
  // 0: learn on all columns and choose on them too.
  float holdout = 0.2f;
  ScaleSearch scale_search = ScaleSearch::Learned;
  // ... on weight grids of at most this many levels (4-bit: on 8-bit grids the step is small against
  // the range and the search doubles the time for nothing measurable, see the README)
  int64_t scale_search_levels = 16;
  ColumnOptions columns;           // per layer; its seed also orders the batches
  int threads = 0;                 // 0: all cores
  bool progress = false;           // progress bar on stderr
};

// f of the reconstruction loss.
struct OutputActivation {
  enum class Kind { Identity, Relu, Clip } kind = Kind::Identity;
  float lo = 0.0f, hi = 0.0f;  // Clip
};

// Output channels of one group: the rows' weights, scale, grid and bias.
struct RoundingProblem {
  int64_t rows = 0, depth = 0;
  std::vector<float> weight;         // [rows, depth] row-major
  std::vector<float> scale, lo, hi;  // per row: scale, the integer grid of q − zero point
  std::vector<float> bias;           // per row
  OutputActivation activation;
};

struct RoundingResult {
  std::vector<float> offsets;         // [rows, depth]: the learned q − zero point (integers)
  std::vector<float> soft;            // [rows, depth]: h(V) at the end (learned elements; others 0)
  std::vector<double> error_nearest;  // per row: Σ over all columns of the squared error, nearest rounding
  std::vector<double> error;          // per row: the same with the returned offsets
  std::vector<double> energy;         // per row: Σ target²
  size_t kept_nearest = 0;            // rows where nearest rounding was better (offsets = nearest)
  size_t flipped = 0;                 // elements rounded the other way than nearest
  std::vector<float> scale;           // per row: the scale the offsets are on
  std::vector<size_t> row_kept, row_flipped;  // per row: the two counts above
};

// Learns the rounding of `problem` from `inputs` X_q [depth, columns] and `targets` f(W·X + b)
// [rows, columns], whose columns are taken in order, `options.batch` at a time (shuffle them first).
// `fp_inputs` X [depth, columns]: what options.drop_probability mixes into the batches (nullptr: none).
RoundingResult learn_rounding(const RoundingProblem& problem, const Columns& inputs, const Columns& targets,
                              const AdaRoundOptions& options, const Columns* fp_inputs = nullptr);
// The same for depthwise groups: row g of `problem` is the only output channel of group g, whose inputs
// are inputs[g] [depth, columns] (the rows are learned side by side, not by tiny GEMMs).
RoundingResult learn_rounding_depthwise(const RoundingProblem& problem, const std::vector<Columns>& inputs,
                                        const Columns& targets, const AdaRoundOptions& options,
                                        const std::vector<Columns>* fp_inputs = nullptr);

struct AdaRoundLayer {
  std::string label;  // node name, or "<op> writing <output>"
  std::string op_type, weight;
  int64_t groups = 1, rows = 0, depth = 0;
  size_t columns = 0;
  double error_nearest = 0.0;  // Σ‖f(Ŵ·X_q + b) − target‖² / Σ‖target‖² on the columns, nearest rounding
  double error = 0.0;          // the same with the learned rounding
  size_t kept_nearest = 0, flipped = 0;
  size_t rescaled = 0;  // output channels whose scale the scale search changed
  bool bias_corrected = false;
  std::string bias;  // the bias corrected in the pass (when bias_corrected)
};

struct AdaRoundResult {
  std::map<std::string, Tensor> weights;  // the new values of the rounded weights
  std::map<std::string, QParams> params;  // the weights whose scales the scale search changed
  std::vector<AdaRoundLayer> layers;      // graph order
  std::vector<std::string> skipped;       // "label: reason" for Conv/Gemm/MatMul nodes left alone
  size_t samples = 0;
  int iterations = 0;
  double seconds = 0.0;
  bool float_inputs = false;  // learned with AdaRoundOptions::float_inputs
  double mean_error_nearest() const;  // over the layers
  double mean_error() const;
};

// AdaRounds every Conv/Gemm/MatMul of `plan` whose weight it quantizes to at most 8 bits, that reads it
// alone, with per-channel parameters along its output channels (or per tensor), on the samples of
// `data`. `params`: rewrite::resolve_params(graph, plan, table). `reference`: the FP32 graph whose layer
// outputs are the targets (default: `graph`; same nodes). The graph is not changed.
AdaRoundResult adaround(const Graph& graph, const rewrite::QuantPlan& plan,
                        const std::map<std::string, QParams>& params, const calib::DataReader& data,
                        const AdaRoundOptions& options, const Graph* reference = nullptr);

// The part of `r` that `plan` still uses: the layers whose weight it quantizes to at most 8 bits, with
// their weights, corrected biases and changed parameters (a precision search may have promoted others to
// 16 bits or float: they keep their float weights). `r` learned on a plan that quantized them all.
AdaRoundResult kept_rounding(const AdaRoundResult& r, const rewrite::QuantPlan& plan);

// `table` with the weight parameters AdaRound's scale search changed (AdaRoundResult::params, by table
// key): what the rewrite must use so that it stores the learned integers. Each such entry's range
// becomes the one its parameters cover.
calib::CalibTable rescaled_table(const calib::CalibTable& table, const std::map<std::string, QParams>& params);

}  // namespace ptq::transform
