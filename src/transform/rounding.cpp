// SPDX-License-Identifier: Apache-2.0
// AdaRound's optimisation of one block of output channels (learn_rounding, see adaround.h). Per
// iteration, with Xb the next `batch` columns of X_q and Tb of the targets:
//   h = h(V), W̃ = s ⊙ (base + h ⊙ learn)           base = ⌊W/s⌋ (saturated nearest where not learned)
//   Z = W̃·Xb + b,  E = f(Z) − Tb,  G = (2/B)·E ⊙ f'(Z)
//   ∂/∂W̃ = G·Xbᵀ (a GEMM on the im2col'd inputs),  ∂/∂V = ∂/∂W̃ ⊙ s ⊙ h'(V)
//   after the warm-up, + λ·(−2β·|2h − 1|^(β−1)·sign(2h − 1))·h'(V)
// then one Adam step on V. With drop_probability p > 0 (QDrop, Wei et al. 2022), each element of Xb
// is replaced by its FP32 value with probability p, drawn anew every iteration (splitmix64 streams seeded
// by the layer, the iteration and the input row, so the draw does not depend on how rows are split into
// tasks); the final choice against nearest rounding is still made on X_q alone. Depthwise groups (one output channel each) are learned side by side, the
// products per group done as rows of arrays instead of tiny GEMMs. Single-threaded: the caller runs
// blocks in parallel.
#include "rounding.h"

#include <cmath>
#include <limits>

#include "ptq/util/error.h"
#include "ptq/util/splitmix.h"

namespace ptq::transform {
namespace {

using Array = Eigen::ArrayXXf;
constexpr float kAdamBeta1 = 0.9f, kAdamBeta2 = 0.999f, kAdamEps = 1e-8f;
constexpr float kTinyA = 1e-30f;                                  // floor of |2h − 1| in the regulariser's power
constexpr float kPaperRate = 1e-3f, kPaperIterations = 10000.0f;  // lr · iterations of the references
// The scale search: multipliers of the table's scale, and how many training columns screen them.
constexpr float kScaleGrid[] = {1.0f, 0.75f, 0.8f, 0.85f, 0.9f, 0.95f, 1.05f, 1.1f, 1.15f, 1.2f, 1.25f};
constexpr Eigen::Index kScreenColumns = 1024;

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// f(Z) and f'(Z) in place of Z (the derivative into `slope`).
void apply_activation(const OutputActivation& a, Eigen::MatrixXf& z, Eigen::MatrixXf& slope) {
  switch (a.kind) {
    case OutputActivation::Kind::Identity:
      slope.setOnes(z.rows(), z.cols());
      return;
    case OutputActivation::Kind::Relu:
      slope = (z.array() > 0.0f).cast<float>();
      z = z.cwiseMax(0.0f);
      return;
    case OutputActivation::Kind::Clip:
      slope = ((z.array() > a.lo) && (z.array() < a.hi)).cast<float>();
      z = z.cwiseMax(a.lo).cwiseMin(a.hi);
      return;
  }
}

// g ← c·(f(z) − t) where f'(z) = 1, else 0 (what (f(Z) − T) ⊙ f'(Z) · c gives, row by row).
void masked_residual(const OutputActivation& a, float* g, const float* t, Eigen::Index n, float c) {
  switch (a.kind) {
    case OutputActivation::Kind::Identity:
      for (Eigen::Index j = 0; j < n; ++j) g[j] = c * (g[j] - t[j]);
      return;
    case OutputActivation::Kind::Relu:
      for (Eigen::Index j = 0; j < n; ++j) g[j] = g[j] > 0.0f ? c * (g[j] - t[j]) : 0.0f;
      return;
    case OutputActivation::Kind::Clip:
      for (Eigen::Index j = 0; j < n; ++j) g[j] = g[j] > a.lo && g[j] < a.hi ? c * (g[j] - t[j]) : 0.0f;
      return;
  }
}

// Per row Σ_columns (f(W·X + b) − T)², over all columns.
Eigen::VectorXd row_errors(const Eigen::MatrixXf& w, const Eigen::VectorXf& bias, const OutputActivation& f,
                           const Eigen::Ref<const RowMatrix>& x, const Eigen::Ref<const Eigen::MatrixXf>& t) {
  Eigen::MatrixXf z = w * x;
  z.colwise() += bias;
  Eigen::MatrixXf slope;
  apply_activation(f, z, slope);
  return (z - t).array().square().cast<double>().rowwise().sum();
}

float beta_at(int t, const AdaRoundOptions& o);

// out = X_q with each element replaced by X_fp's with probability p, drawn in 8-bit steps (eight draws
// per number of the stream); `row_key0 + r` names input row r's stream (e.g. the tap and the group).
template <class Q, class F, class Out>
void mix_rows(const Q& xq, const F& xf, float p, uint64_t seed, int it, Eigen::Index row_key0, Out& out) {
  const uint32_t threshold = static_cast<uint32_t>(std::lround(static_cast<double>(p) * 256.0));
  out.resize(xq.rows(), xq.cols());
  for (Eigen::Index r = 0; r < xq.rows(); ++r) {
    uint64_t state = seed ^ (static_cast<uint64_t>(it) * 0xd1b54a32d192ed03ull) ^
                     (static_cast<uint64_t>(row_key0 + r) * 0x8cb92ba72f3d8dd7ull);
    for (Eigen::Index j0 = 0; j0 < xq.cols(); j0 += 8) {
      uint64_t bits = splitmix64(state);
      for (Eigen::Index j = j0; j < std::min<Eigen::Index>(j0 + 8, xq.cols()); ++j, bits >>= 8)
        out(r, j) = static_cast<uint32_t>(bits & 0xffu) < threshold ? xf(r, j) : xq(r, j);
    }
  }
}

// The optimisation state of rows × depth weights (all rows independent): the grid, V and Adam's moments.
class RoundingState {
 public:
  RoundingState(const RoundingProblem& p, const AdaRoundOptions& o)
      : o_(o), rows_(p.rows), depth_(p.depth), scale_(Eigen::Map<const Eigen::ArrayXf>(p.scale.data(), p.rows)) {
    PTQ_CHECK(p.weight.size() == static_cast<size_t>(p.rows * p.depth) &&
              p.scale.size() == static_cast<size_t>(p.rows));
    const Array ratio = Eigen::Map<const RowMatrix>(p.weight.data(), rows_, depth_).array().colwise() / scale_;
    base_ = ratio.floor();
    const Array lo = Eigen::Map<const Eigen::ArrayXf>(p.lo.data(), rows_).replicate(1, depth_);
    const Array hi = Eigen::Map<const Eigen::ArrayXf>(p.hi.data(), rows_).replicate(1, depth_);
    learn_ = ((base_ >= lo) && (base_ <= hi - 1.0f)).cast<float>();
    nearest_ = ratio.unaryExpr([](float v) { return std::nearbyint(v); }).max(lo).min(hi);
    base_ = learn_ * base_ + (1.0f - learn_) * nearest_;
    v_ = (learn_ * (ratio - ratio.floor())).unaryExpr([](float h) { return rectified_sigmoid_inverse(h); });
    m_ = var_ = Array::Zero(rows_, depth_);
    sig_ = h_ = dh_ = grad_ = Array(rows_, depth_);
    w_soft_ = Eigen::MatrixXf(rows_, depth_);
    lr_ = o.learning_rate > 0.0f ? o.learning_rate
                                 : kPaperRate * kPaperIterations / static_cast<float>(std::max(1, o.iterations));
  }

  // W̃ = s ⊙ (base + h(V) ⊙ learn) for the current V.
  const Eigen::MatrixXf& soft_weight() {
    sig_ = 1.0f / (1.0f + (-v_).exp());
    h_ = (sig_ * (kZeta - kGamma) + kGamma).max(0.0f).min(1.0f);
    dh_ = (kZeta - kGamma) * sig_ * (1.0f - sig_) * ((h_ > 0.0f) && (h_ < 1.0f)).cast<float>();
    w_soft_ = ((base_ + h_ * learn_).colwise() * scale_).matrix();
    return w_soft_;
  }

  // One Adam step on V from ∂L/∂W̃ (after soft_weight() of the same iteration).
  void step(int it, const Eigen::MatrixXf& dw) {
    grad_ = (dw.array().colwise() * scale_) * dh_;
    if (const float beta = beta_at(it, o_); beta > 0.0f) {
      // λ·∂(1 − |a|^β)/∂V with a = 2h − 1: −2λβ·sign(a)|a|^(β−1)·h' = −2λβ·a·|a|^(β−2)·h' (one pass,
      // no sign(); |a| floored so that 0^0 is 1, not NaN)
      grad_ -= (2.0f * o_.lambda * beta) * (2.0f * h_ - 1.0f) *
               ((2.0f * h_ - 1.0f).abs().max(kTinyA).log() * (beta - 2.0f)).exp() * dh_;
    }
    grad_ *= learn_;
    bc1_ *= kAdamBeta1;
    bc2_ *= kAdamBeta2;
    m_ = kAdamBeta1 * m_ + (1.0f - kAdamBeta1) * grad_;
    var_ = kAdamBeta2 * var_ + (1.0f - kAdamBeta2) * grad_.square();
    v_ -= (lr_ / (1.0f - bc1_)) * m_ / (var_.sqrt() / std::sqrt(1.0f - bc2_) + kAdamEps);
  }

  // Up where V ≥ 0 (learned elements), as q − zero point.
  Array hard() const { return base_ + learn_ * (v_ >= 0.0f).cast<float>(); }
  const Array& nearest() const { return nearest_; }
  Array soft() const {
    return learn_ * v_.unaryExpr([](float e) { return rectified_sigmoid(e); });
  }
  Eigen::MatrixXf weights(const Array& offsets) const { return (offsets.colwise() * scale_).matrix(); }

 private:
  const AdaRoundOptions& o_;
  Eigen::Index rows_, depth_;
  Eigen::ArrayXf scale_;
  Array base_, learn_, nearest_, v_, m_, var_, sig_, h_, dh_, grad_;
  Eigen::MatrixXf w_soft_;
  float lr_ = 0.0f, bc1_ = 1.0f, bc2_ = 1.0f;
};

// The result from the final state and per-row errors of a candidate weight (err(w) → per row Σ e²):
// per row the better of the learned and the nearest rounding.
template <class RowErrors>
RoundingResult finish(const RoundingProblem& p, const RoundingState& st, const Eigen::Ref<const Eigen::MatrixXf>& t,
                      RowErrors err) {
  Array offsets = st.hard();
  const Eigen::VectorXd err_near = err(st.weights(st.nearest()));
  Eigen::VectorXd e = err(st.weights(offsets));
  RoundingResult r;
  r.row_kept.assign(static_cast<size_t>(offsets.rows()), 0);
  r.row_flipped.assign(static_cast<size_t>(offsets.rows()), 0);
  for (Eigen::Index i = 0; i < offsets.rows(); ++i) {
    if (e(i) > err_near(i)) {
      offsets.row(i) = st.nearest().row(i);
      e(i) = err_near(i);
      ++r.kept_nearest;
      r.row_kept[static_cast<size_t>(i)] = 1;
    }
    r.row_flipped[static_cast<size_t>(i)] = static_cast<size_t>((offsets.row(i) != st.nearest().row(i)).count());
  }
  r.flipped = static_cast<size_t>((offsets != st.nearest()).count());
  r.scale = p.scale;
  const auto to_vector = [](const Array& a) {
    std::vector<float> out(static_cast<size_t>(a.size()));
    Eigen::Map<RowMatrix>(out.data(), a.rows(), a.cols()) = a.matrix();
    return out;
  };
  r.offsets = to_vector(offsets);
  r.soft = to_vector(st.soft());
  r.error_nearest.assign(err_near.data(), err_near.data() + err_near.size());
  r.error.assign(e.data(), e.data() + e.size());
  const Eigen::VectorXd energy = t.array().square().cast<double>().rowwise().sum();
  r.energy.assign(energy.data(), energy.data() + energy.size());
  return r;
}

// β of the regulariser at iteration t (0 during the warm-up), linear from beta_start to beta_end.
float beta_at(int t, const AdaRoundOptions& o) {
  const int warm = static_cast<int>(o.warmup * static_cast<float>(o.iterations));
  if (t < warm) return 0.0f;
  const float ratio = static_cast<float>(t - warm) / static_cast<float>(std::max(1, o.iterations - warm));
  return o.beta_end + (o.beta_start - o.beta_end) * std::max(0.0f, 1.0f - ratio);
}

}  // namespace

Eigen::Index training_columns(Eigen::Index columns, float holdout) {
  if (holdout <= 0.0f || columns < 2) return columns;
  const Eigen::Index held = std::clamp<Eigen::Index>(
      static_cast<Eigen::Index>(std::lround(static_cast<double>(holdout) * static_cast<double>(columns))), 1,
      columns - 1);
  return columns - held;
}

float rectified_sigmoid(float v) { return std::clamp(sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0f, 1.0f); }

float rectified_sigmoid_grad(float v) {
  const float s = sigmoid(v), h = s * (kZeta - kGamma) + kGamma;
  return h > 0.0f && h < 1.0f ? (kZeta - kGamma) * s * (1.0f - s) : 0.0f;
}

float rectified_sigmoid_inverse(float h) {
  const float s = (std::clamp(h, 0.0f, 1.0f) - kGamma) / (kZeta - kGamma);
  return std::log(s / (1.0f - s));
}

namespace {

RoundingResult learn_dense(const RoundingProblem& p, const Eigen::Ref<const RowMatrix>& x,
                           const Eigen::Ref<const Eigen::MatrixXf>& t, const AdaRoundOptions& o, const RowMatrix* x_fp,
                           uint64_t seed) {
  const Eigen::Index columns = x.cols();
  PTQ_CHECK(x.rows() == p.depth && t.rows() == p.rows && t.cols() == columns && columns > 0);
  const bool drop = x_fp != nullptr && o.drop_probability > 0.0f;
  PTQ_CHECK(!drop || (x_fp->rows() == x.rows() && x_fp->cols() == columns));
  const Eigen::Map<const Eigen::VectorXf> bias(p.bias.data(), p.rows);
  RoundingState st(p, o);
  const Eigen::Index train = training_columns(columns, o.holdout), check = columns - train;
  const Eigen::Index batch = std::min<Eigen::Index>(static_cast<Eigen::Index>(std::max<size_t>(o.batch, 1)), train);
  const Eigen::Index batches = train / batch;
  Eigen::MatrixXf z(p.rows, batch), dw(p.rows, p.depth);
  const Eigen::MatrixXf t_train = t.leftCols(train);  // contiguous, so a batch's targets lie as z does
  RowMatrix mixed;  // the batch with QDrop: row-major as x's blocks, so p = 0 or 1 computes what X_q or X alone do
  const auto iterate = [&](int it, const auto& xb) {
    z.noalias() = st.soft_weight() * xb;
    z.colwise() += bias;
    masked_residual(p.activation, z.data(), t_train.data() + (it % batches) * batch * p.rows, z.size(),
                    2.0f / static_cast<float>(batch));
    dw.noalias() = z * xb.transpose();
    st.step(it, dw);
  };
  for (int it = 0; it < o.iterations; ++it) {
    const Eigen::Index c0 = (it % batches) * batch;
    if (drop) {
      mix_rows(x.middleCols(c0, batch), x_fp->middleCols(c0, batch), o.drop_probability, seed, it, 0, mixed);
      iterate(it, mixed);
    } else {
      iterate(it, x.middleCols(c0, batch));
    }
  }
  // the choice against nearest, and the errors reported, on the held-out columns (all without holdout)
  const Eigen::Index c0 = check > 0 ? train : 0, n = check > 0 ? check : columns;
  return finish(p, st, t.middleCols(c0, n), [&](const Eigen::MatrixXf& w) {
    return row_errors(w, bias, p.activation, x.middleCols(c0, n), t.middleCols(c0, n));
  });
}

// Z = Σ_k X_k ⊙ W̃[:, k] + b over rows [row0, row0 + p.rows) and columns [c0, c0 + n) of each tap X_k:
// depthwise groups' products, one row per group, as rows of arrays.
void depthwise_product(const RoundingProblem& p, const std::vector<RowMatrix>& xk, Eigen::Index row0, Eigen::Index c0,
                       Eigen::Index n, const Eigen::MatrixXf& w, Eigen::MatrixXf& z) {
  z = Eigen::Map<const Eigen::VectorXf>(p.bias.data(), p.rows).replicate(1, n);
  for (Eigen::Index k = 0; k < p.depth; ++k)
    z.array() += xk[static_cast<size_t>(k)].block(row0, c0, p.rows, n).array().colwise() * w.col(k).array();
}

// Per row Σ e² of f(Z) (depthwise_product over columns [c0, c0 + n)) against targets t.
Eigen::VectorXd depthwise_row_errors(const RoundingProblem& p, const std::vector<RowMatrix>& xk, Eigen::Index row0, Eigen::Index c0,
                                     Eigen::Index n, const Eigen::MatrixXf& w, const Eigen::Ref<const Eigen::MatrixXf>& t) {
  Eigen::MatrixXf z, slope;
  depthwise_product(p, xk, row0, c0, n, w, z);
  apply_activation(p.activation, z, slope);
  return Eigen::VectorXd((z - t).array().square().cast<double>().rowwise().sum());
}

// Σ_j a_j · b_j in 8 fixed lanes (vectorized; the same sum wherever the buffers lie).
float lane_dot(const float* a, const float* b, Eigen::Index n) {
  float acc[8] = {};
  Eigen::Index j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[j + l] * b[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] += a[j] * b[j];
  return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// ∂L/∂W̃ of one step on depthwise groups (L = (1/n) Σ ‖f(Z) − T‖², Z = Σ_k X_k ⊙ W̃[:, k] + b over
// columns [col0, col0 + n) of the taps' rows row0 ...): row by row, each row's batch read from the
// row-major taps while it is in cache, the targets' row from `t` (row-major) at column t0.
void depthwise_gradient(const RoundingProblem& p, const std::vector<RowMatrix>& xb, Eigen::Index row0, Eigen::Index col0,
                        Eigen::Index n, const Eigen::MatrixXf& w, const RowMatrix& t, Eigen::Index t0, std::vector<float>& g,
                        Eigen::MatrixXf& dw) {
  g.resize(static_cast<size_t>(n));
  float* z = g.data();
  for (Eigen::Index r = 0; r < p.rows; ++r) {
    std::fill(z, z + n, p.bias[static_cast<size_t>(r)]);
    for (Eigen::Index k = 0; k < p.depth; ++k) {
      const float* x = &xb[static_cast<size_t>(k)](row0 + r, col0);
      const float wk = w(r, k);
      for (Eigen::Index j = 0; j < n; ++j) z[j] += x[j] * wk;
    }
    masked_residual(p.activation, z, &t(r, t0), n, 2.0f / static_cast<float>(n));
    for (Eigen::Index k = 0; k < p.depth; ++k) dw(r, k) = lane_dot(z, &xb[static_cast<size_t>(k)](row0 + r, col0), n);
  }
}

RoundingResult learn_depthwise(const RoundingProblem& p, const std::vector<RowMatrix>& xk, Eigen::Index first,
                               const Eigen::Ref<const Eigen::MatrixXf>& t, const AdaRoundOptions& o,
                               const std::vector<RowMatrix>* fp_xk, uint64_t seed) {
  const Eigen::Index columns = t.cols();
  PTQ_CHECK(static_cast<Eigen::Index>(xk.size()) == p.depth && t.rows() == p.rows && columns > 0);
  const bool drop = fp_xk != nullptr && o.drop_probability > 0.0f;
  PTQ_CHECK(!drop || fp_xk->size() == xk.size());
  RoundingState st(p, o);
  const Eigen::Index train = training_columns(columns, o.holdout), check = columns - train;
  const Eigen::Index batch = std::min<Eigen::Index>(static_cast<Eigen::Index>(std::max<size_t>(o.batch, 1)), train);
  const Eigen::Index batches = train / batch;
  Eigen::MatrixXf dw(p.rows, p.depth);
  const RowMatrix t_rows = t.leftCols(train);  // row-major, as the taps: each row's batch contiguous
  std::vector<float> g;
  std::vector<RowMatrix> mixed(drop ? static_cast<size_t>(p.depth) : 0);
  for (int it = 0; it < o.iterations; ++it) {
    const Eigen::Index c0 = (it % batches) * batch;
    if (drop)  // taps × groups streams: tap k, group first + g is stream k · 2^32 + first + g
      for (Eigen::Index k = 0; k < p.depth; ++k)
        mix_rows(xk[static_cast<size_t>(k)].block(first, c0, p.rows, batch),
                 (*fp_xk)[static_cast<size_t>(k)].block(first, c0, p.rows, batch), o.drop_probability, seed, it,
                 (k << 32) + first, mixed[static_cast<size_t>(k)]);
    // the batch's inputs: the mixed copy (rows and columns from 0), else the taps' own block
    const std::vector<RowMatrix>& xb = drop ? mixed : xk;
    const Eigen::Index row0 = drop ? 0 : first, col0 = drop ? 0 : c0;
    depthwise_gradient(p, xb, row0, col0, batch, st.soft_weight(), t_rows, c0, g, dw);
    st.step(it, dw);
  }
  const Eigen::Index c0 = check > 0 ? train : 0, n = check > 0 ? check : columns;
  return finish(p, st, t.middleCols(c0, n),
                [&](const Eigen::MatrixXf& w) { return depthwise_row_errors(p, xk, first, c0, n, w, t.middleCols(c0, n)); });
}

// Per row, the scale among s·m (m in kScaleGrid, `with_one`: m = 1 too) whose nearest rounding has the
// lowest error err(W̃) (per row Σ e² on the screening columns); ties keep the earlier multiplier.
template <class RowErrors>
std::vector<float> screened_scales(const RoundingProblem& p, bool with_one, RowErrors err) {
  const Eigen::Map<const RowMatrix> w(p.weight.data(), p.rows, p.depth);
  std::vector<float> best(p.scale);
  Eigen::VectorXd best_err = Eigen::VectorXd::Constant(p.rows, std::numeric_limits<double>::infinity());
  for (float m : kScaleGrid) {
    if (m == 1.0f && !with_one) continue;
    Eigen::MatrixXf wq(p.rows, p.depth);
    for (Eigen::Index i = 0; i < p.rows; ++i) {
      const float si = p.scale[static_cast<size_t>(i)] * m;
      for (Eigen::Index k = 0; k < p.depth; ++k)
        wq(i, k) = si * std::clamp(std::nearbyint(w(i, k) / si), p.lo[static_cast<size_t>(i)], p.hi[static_cast<size_t>(i)]);
    }
    const Eigen::VectorXd e = err(wq);
    for (Eigen::Index i = 0; i < p.rows; ++i)
      if (e(i) < best_err(i)) best_err(i) = e(i), best[static_cast<size_t>(i)] = p.scale[static_cast<size_t>(i)] * m;
  }
  return best;
}

// Per row the better (lower held-out error) of two results learned on different scales.
RoundingResult better_rows(RoundingResult a, const RoundingResult& b, int64_t depth) {
  a.flipped = a.kept_nearest = 0;
  for (size_t i = 0; i < a.error.size(); ++i) {
    const bool take_b = b.error[i] < a.error[i];
    const RoundingResult& from = take_b ? b : a;
    if (take_b) {
      std::copy_n(b.offsets.begin() + static_cast<int64_t>(i) * depth, depth, a.offsets.begin() + static_cast<int64_t>(i) * depth);
      std::copy_n(b.soft.begin() + static_cast<int64_t>(i) * depth, depth, a.soft.begin() + static_cast<int64_t>(i) * depth);
      a.error[i] = b.error[i];
      a.scale[i] = b.scale[i];
    }
    a.flipped += from.row_flipped[i];
    a.kept_nearest += from.row_kept[i];
    a.row_flipped[i] = from.row_flipped[i];
    a.row_kept[i] = from.row_kept[i];
  }
  return a;
}

// learn(problem) with the scale search of options.scale_search around it; screen(W̃) gives per row the
// error of weights W̃ on the screening columns.
template <class Learn, class Screen>
RoundingResult with_scale_search(const RoundingProblem& p, const AdaRoundOptions& o, Learn learn, Screen screen) {
  if (o.scale_search == ScaleSearch::Off) return learn(p);
  RoundingProblem alt = p;
  if (o.scale_search == ScaleSearch::Nearest) {
    alt.scale = screened_scales(p, true, screen);
    return learn(alt);
  }
  alt.scale = screened_scales(p, false, screen);
  RoundingResult r = learn(p);
  return better_rows(std::move(r), learn(alt), p.depth);
}

}  // namespace

RoundingResult learn_rounding(const RoundingProblem& p, const Eigen::Ref<const RowMatrix>& x,
                              const Eigen::Ref<const Eigen::MatrixXf>& t, const AdaRoundOptions& o,
                              const RowMatrix* x_fp, uint64_t seed) {
  const Eigen::Map<const Eigen::VectorXf> bias(p.bias.data(), p.rows);
  const Eigen::Index n = std::min(training_columns(x.cols(), o.holdout), kScreenColumns);
  return with_scale_search(
      p, o, [&](const RoundingProblem& q) { return learn_dense(q, x, t, o, x_fp, seed); },
      [&](const Eigen::MatrixXf& w) { return row_errors(w, bias, p.activation, x.leftCols(n), t.leftCols(n)); });
}

RoundingResult learn_rounding_depthwise(const RoundingProblem& p, const std::vector<RowMatrix>& xk, Eigen::Index first,
                                        const Eigen::Ref<const Eigen::MatrixXf>& t, const AdaRoundOptions& o,
                                        const std::vector<RowMatrix>* fp_xk, uint64_t seed) {
  const Eigen::Index n = std::min(training_columns(t.cols(), o.holdout), kScreenColumns);
  return with_scale_search(
      p, o, [&](const RoundingProblem& q) { return learn_depthwise(q, xk, first, t, o, fp_xk, seed); },
      [&](const Eigen::MatrixXf& w) { return depthwise_row_errors(p, xk, first, 0, n, w, t.leftCols(n)); });
}

RoundingResult learn_rounding(const RoundingProblem& problem, const Columns& inputs, const Columns& targets,
                              const AdaRoundOptions& options, const Columns* fp_inputs) {
  const auto row_major = [](const Columns& c) {
    return RowMatrix(Eigen::Map<const Eigen::MatrixXf>(c.data.data(), c.rows, c.cols));
  };
  const RowMatrix x = row_major(inputs);
  const RowMatrix xf = fp_inputs ? row_major(*fp_inputs) : RowMatrix();
  const Eigen::Map<const Eigen::MatrixXf> t(targets.data.data(), targets.rows, targets.cols);
  return learn_rounding(problem, x, t, options, fp_inputs ? &xf : nullptr, options.columns.seed);
}

RoundingResult learn_rounding_depthwise(const RoundingProblem& problem, const std::vector<Columns>& inputs,
                                        const Columns& targets, const AdaRoundOptions& options,
                                        const std::vector<Columns>* fp_inputs) {
  PTQ_CHECK(static_cast<int64_t>(inputs.size()) == problem.rows);
  PTQ_CHECK(!fp_inputs || fp_inputs->size() == inputs.size());
  const auto taps = [&](const std::vector<Columns>& in) {
    std::vector<RowMatrix> xk(static_cast<size_t>(problem.depth), RowMatrix(problem.rows, targets.cols));
    for (int64_t g = 0; g < problem.rows; ++g)
      for (int64_t k = 0; k < problem.depth; ++k)
        xk[static_cast<size_t>(k)].row(g) =
            Eigen::Map<const Eigen::MatrixXf>(in[static_cast<size_t>(g)].data.data(), problem.depth, targets.cols)
                .row(k);
    return xk;
  };
  const std::vector<RowMatrix> xk = taps(inputs);
  const std::vector<RowMatrix> xf = fp_inputs ? taps(*fp_inputs) : std::vector<RowMatrix>();
  const Eigen::Map<const Eigen::MatrixXf> t(targets.data.data(), targets.rows, targets.cols);
  return learn_rounding_depthwise(problem, xk, 0, t, options, fp_inputs ? &xf : nullptr, options.columns.seed);
}

}  // namespace ptq::transform
