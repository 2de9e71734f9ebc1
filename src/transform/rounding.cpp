// SPDX-License-Identifier: Apache-2.0
// AdaRound's optimisation of one block of output channels (learn_rounding, see adaround.h). Per
// iteration, with Xb the next `batch` columns of X_q and Tb of the targets:
//   h = h(V), W̃ = s ⊙ (base + h ⊙ learn)           base = ⌊W/s⌋ (saturated nearest where not learned)
//   Z = W̃·Xb + b,  E = f(Z) − Tb,  G = (2/B)·E ⊙ f'(Z)
//   ∂/∂W̃ = G·Xbᵀ (a GEMM on the im2col'd inputs),  ∂/∂V = ∂/∂W̃ ⊙ s ⊙ h'(V)
//   after the warm-up, + λ·(−2β·|2h − 1|^(β−1)·sign(2h − 1))·h'(V)
// then one Adam step on V. Depthwise groups (one output channel each) are learned side by side, the
// products per group done as rows of arrays instead of tiny GEMMs. Single-threaded: the caller runs
// blocks in parallel.
#include "rounding.h"

#include <cmath>

#include "ptq/util/error.h"

namespace ptq::transform {
namespace {

using Array = Eigen::ArrayXXf;
constexpr float kAdamBeta1 = 0.9f, kAdamBeta2 = 0.999f, kAdamEps = 1e-8f;
constexpr float kTinyA = 1e-30f;                                  // floor of |2h − 1| in the regulariser's power
constexpr float kPaperRate = 1e-3f, kPaperIterations = 10000.0f;  // lr · iterations of the references

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
RoundingResult finish(const RoundingState& st, const Eigen::Ref<const Eigen::MatrixXf>& t, RowErrors err) {
  Array offsets = st.hard();
  const Eigen::VectorXd err_near = err(st.weights(st.nearest()));
  Eigen::VectorXd e = err(st.weights(offsets));
  RoundingResult r;
  for (Eigen::Index i = 0; i < offsets.rows(); ++i) {
    if (e(i) > err_near(i)) {
      offsets.row(i) = st.nearest().row(i);
      e(i) = err_near(i);
      ++r.kept_nearest;
    }
  }
  r.flipped = static_cast<size_t>((offsets != st.nearest()).count());
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

float rectified_sigmoid(float v) { return std::clamp(sigmoid(v) * (kZeta - kGamma) + kGamma, 0.0f, 1.0f); }

float rectified_sigmoid_grad(float v) {
  const float s = sigmoid(v), h = s * (kZeta - kGamma) + kGamma;
  return h > 0.0f && h < 1.0f ? (kZeta - kGamma) * s * (1.0f - s) : 0.0f;
}

float rectified_sigmoid_inverse(float h) {
  const float s = (std::clamp(h, 0.0f, 1.0f) - kGamma) / (kZeta - kGamma);
  return std::log(s / (1.0f - s));
}

RoundingResult learn_rounding(const RoundingProblem& p, const Eigen::Ref<const RowMatrix>& x,
                              const Eigen::Ref<const Eigen::MatrixXf>& t, const AdaRoundOptions& o) {
  const Eigen::Index columns = x.cols();
  PTQ_CHECK(x.rows() == p.depth && t.rows() == p.rows && t.cols() == columns && columns > 0);
  const Eigen::Map<const Eigen::VectorXf> bias(p.bias.data(), p.rows);
  RoundingState st(p, o);
  const Eigen::Index batch = std::min<Eigen::Index>(static_cast<Eigen::Index>(std::max<size_t>(o.batch, 1)), columns);
  const Eigen::Index batches = columns / batch;
  Eigen::MatrixXf z(p.rows, batch), slope(p.rows, batch), dw(p.rows, p.depth);
  for (int it = 0; it < o.iterations; ++it) {
    const auto xb = x.middleCols((it % batches) * batch, batch);
    z.noalias() = st.soft_weight() * xb;
    z.colwise() += bias;
    apply_activation(p.activation, z, slope);
    z = (2.0f / static_cast<float>(batch)) *
        ((z - t.middleCols((it % batches) * batch, batch)).array() * slope.array()).matrix();
    dw.noalias() = z * xb.transpose();
    st.step(it, dw);
  }
  return finish(st, t, [&](const Eigen::MatrixXf& w) { return row_errors(w, bias, p.activation, x, t); });
}

RoundingResult learn_rounding_depthwise(const RoundingProblem& p, const std::vector<RowMatrix>& xk, Eigen::Index first,
                                        const Eigen::Ref<const Eigen::MatrixXf>& t, const AdaRoundOptions& o) {
  const Eigen::Index columns = t.cols();
  PTQ_CHECK(static_cast<Eigen::Index>(xk.size()) == p.depth && t.rows() == p.rows && columns > 0);
  const Eigen::Map<const Eigen::VectorXf> bias(p.bias.data(), p.rows);
  // Z[g, :] = Σ_k W̃[g, k]·X_k[g, :] + b[g]: the products of one row per group, as rows of arrays.
  const auto product = [&](const Eigen::MatrixXf& w, Eigen::Index c0, Eigen::Index n, Eigen::MatrixXf& z) {
    z = bias.replicate(1, n);
    for (Eigen::Index k = 0; k < p.depth; ++k)
      z.array() += xk[static_cast<size_t>(k)].block(first, c0, p.rows, n).array().colwise() * w.col(k).array();
  };
  RoundingState st(p, o);
  const Eigen::Index batch = std::min<Eigen::Index>(static_cast<Eigen::Index>(std::max<size_t>(o.batch, 1)), columns);
  const Eigen::Index batches = columns / batch;
  Eigen::MatrixXf z(p.rows, batch), slope(p.rows, batch), dw(p.rows, p.depth);
  for (int it = 0; it < o.iterations; ++it) {
    const Eigen::Index c0 = (it % batches) * batch;
    product(st.soft_weight(), c0, batch, z);
    apply_activation(p.activation, z, slope);
    z = (2.0f / static_cast<float>(batch)) * ((z - t.middleCols(c0, batch)).array() * slope.array()).matrix();
    for (Eigen::Index k = 0; k < p.depth; ++k)
      dw.col(k) =
          (z.array() * xk[static_cast<size_t>(k)].block(first, c0, p.rows, batch).array()).rowwise().sum().matrix();
    st.step(it, dw);
  }
  return finish(st, t, [&](const Eigen::MatrixXf& w) {
    Eigen::MatrixXf zf, slope_f;
    product(w, 0, columns, zf);
    apply_activation(p.activation, zf, slope_f);
    return Eigen::VectorXd((zf - t).array().square().cast<double>().rowwise().sum());
  });
}

RoundingResult learn_rounding(const RoundingProblem& problem, const Columns& inputs, const Columns& targets,
                              const AdaRoundOptions& options) {
  const RowMatrix x = Eigen::Map<const Eigen::MatrixXf>(inputs.data.data(), inputs.rows, inputs.cols);
  const Eigen::Map<const Eigen::MatrixXf> t(targets.data.data(), targets.rows, targets.cols);
  return learn_rounding(problem, x, t, options);
}

RoundingResult learn_rounding_depthwise(const RoundingProblem& problem, const std::vector<Columns>& inputs,
                                        const Columns& targets, const AdaRoundOptions& options) {
  PTQ_CHECK(static_cast<int64_t>(inputs.size()) == problem.rows);
  std::vector<RowMatrix> xk(static_cast<size_t>(problem.depth), RowMatrix(problem.rows, targets.cols));
  for (int64_t g = 0; g < problem.rows; ++g)
    for (int64_t k = 0; k < problem.depth; ++k)
      xk[static_cast<size_t>(k)].row(g) =
          Eigen::Map<const Eigen::MatrixXf>(inputs[static_cast<size_t>(g)].data.data(), problem.depth, targets.cols)
              .row(k);
  const Eigen::Map<const Eigen::MatrixXf> t(targets.data.data(), targets.rows, targets.cols);
  return learn_rounding_depthwise(problem, xk, 0, t, options);
}

}  // namespace ptq::transform
