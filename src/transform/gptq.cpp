// SPDX-License-Identifier: Apache-2.0
// GPTQ (see gptq.h for the algorithm and its constants).
#include "ptq/transform/gptq.h"

#include <Eigen/Dense>
#include <chrono>
#include <numeric>

#include "ptq/util/log.h"
#include "ptq/util/parallel.h"

namespace ptq::transform {
namespace {

using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// U with (H + λI)⁻¹ = UᵀU, λ = damp·mean(diag H), raised tenfold (twice) when H + λI is not positive definite.
MatrixD inverse_cholesky(const MatrixD& h, double damp) {
  const double mean_diag = h.diagonal().mean();
  for (int attempt = 0; attempt < 3; ++attempt, damp *= 10.0) {
    MatrixD damped = h;
    damped.diagonal().array() += damp * mean_diag;
    Eigen::LLT<MatrixD> llt(damped);
    if (llt.info() != Eigen::Success) continue;
    MatrixD inv = llt.solve(MatrixD::Identity(h.rows(), h.cols()));
    Eigen::LLT<MatrixD> llt_inv(inv);
    if (llt_inv.info() != Eigen::Success) continue;
    return llt_inv.matrixU();
  }
  PTQ_FAIL(Error, "GPTQ: the Hessian is not positive definite even with damping ", damp / 10.0);
}

}  // namespace

std::vector<double> hessian_of(const Columns& x) {
  const Eigen::Map<const Eigen::MatrixXf> m(x.data.data(), x.rows, x.cols);
  const Eigen::MatrixXd xd = m.cast<double>();
  Eigen::MatrixXd h = (2.0 / static_cast<double>(std::max<int64_t>(x.cols, 1))) * (xd * xd.transpose());
  std::vector<double> out(static_cast<size_t>(x.rows * x.rows));
  Eigen::Map<MatrixD>(out.data(), x.rows, x.rows) = h;
  return out;
}

double relative_output_error(const std::vector<float>& w, const std::vector<float>& approx, int64_t rows, int64_t depth,
                             const std::vector<double>& hessian) {
  const Eigen::Map<const MatrixD> h(hessian.data(), depth, depth);
  const Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> wm(w.data(), rows, depth),
      am(approx.data(), rows, depth);
  const MatrixD wd = wm.cast<double>(), delta = am.cast<double>() - wd;
  const double num = (delta * h).cwiseProduct(delta).sum(), den = (wd * h).cwiseProduct(wd).sum();
  return den > 0.0 ? num / den : 0.0;
}

std::vector<float> gptq_rows(const std::vector<float>& w_in, int64_t rows, int64_t depth, std::vector<double> hessian,
                             const std::function<float(int64_t, int64_t, float)>& quantize, const GptqOptions& o) {
  MatrixD w = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(w_in.data(), rows, depth).cast<double>();
  MatrixD h = Eigen::Map<MatrixD>(hessian.data(), depth, depth);
  for (int64_t k = 0; k < depth; ++k)  // dead inputs: never seen non-zero, their weights do not matter
    if (h(k, k) == 0.0) h(k, k) = 1.0, w.col(k).setZero();
  std::vector<int64_t> perm(static_cast<size_t>(depth));
  std::iota(perm.begin(), perm.end(), 0);
  if (o.act_order)
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h(a, a) > h(b, b); });
  MatrixD wp(rows, depth), hp(depth, depth);
  for (int64_t i = 0; i < depth; ++i) {
    wp.col(i) = w.col(perm[static_cast<size_t>(i)]);
    for (int64_t j = 0; j < depth; ++j) hp(i, j) = h(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  const MatrixD u = inverse_cholesky(hp, o.damp);
  MatrixD q(rows, depth);
  const int64_t block = std::max<int64_t>(o.block, 1);
  for (int64_t i1 = 0; i1 < depth; i1 += block) {
    const int64_t i2 = std::min(depth, i1 + block), count = i2 - i1;
    MatrixD err(rows, count);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t col = i1 + i, k = perm[static_cast<size_t>(col)];
      const double d = u(col, col);
      for (int64_t r = 0; r < rows; ++r) {
        q(r, col) = quantize(r, k, static_cast<float>(wp(r, col)));
        err(r, i) = (wp(r, col) - q(r, col)) / d;
      }
      wp.block(0, col + 1, rows, i2 - col - 1).noalias() -= err.col(i) * u.block(col, col + 1, 1, i2 - col - 1);
    }
    if (i2 < depth) wp.rightCols(depth - i2).noalias() -= err * u.block(i1, i2, count, depth - i2);
  }
  std::vector<float> out(static_cast<size_t>(rows * depth));
  for (int64_t i = 0; i < depth; ++i)
    for (int64_t r = 0; r < rows; ++r) out[static_cast<size_t>(r * depth + perm[static_cast<size_t>(i)])] = static_cast<float>(q(r, i));
  return out;
}

WeightMethodResult gptq(const Graph& graph, const rewrite::QuantPlan& plan, const std::map<std::string, QParams>& params,
                        const calib::DataReader& data, const GptqOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  WeightMethodResult r;
  const std::vector<LinearLayer> layers = weight_method_layers(graph, plan, params, &r.skipped);
  for (const auto& s : r.skipped) log::debug("GPTQ skips ", s);
  if (layers.empty()) return r;
  CollectedColumns cols = collect_columns(graph, layers, ColumnKind::Inputs, data,
                                          CollectOptions{options.columns, options.threads, options.progress, "GPTQ inputs"});
  r.samples = cols.samples;
  std::vector<WeightMethodLayer> reports(layers.size());
  std::vector<Tensor> rounded(layers.size());
  run_tasks(options.threads, layers.size(), [&](size_t i) {  // layers are independent (FP32 inputs)
    const LinearLayer& l = layers[i];
    const Tensor& weight = *graph.weight(l.weight);
    const std::vector<float> w = weight_rows(l, weight);
    const std::vector<double> h = hessian_of(cols.layers[i][0]);
    const WeightGrid grid(l, weight.shape(), params.at(l.weight));
    auto quantize = [&](int64_t o, int64_t k, float v) { return grid.fake_quantize(o, k, v); };
    std::vector<float> rtn(w.size());
    for (int64_t o = 0; o < l.rows; ++o)
      for (int64_t k = 0; k < l.depth; ++k) rtn[static_cast<size_t>(o * l.depth + k)] = quantize(o, k, w[static_cast<size_t>(o * l.depth + k)]);
    std::vector<float> q = gptq_rows(w, l.rows, l.depth, h, quantize, options);
    WeightMethodLayer& rep = reports[i];
    rep = {layer_label(graph, l), l.op_type, l.weight, l.rows, l.depth, static_cast<size_t>(cols.layers[i][0].cols)};
    rep.error_rtn = relative_output_error(w, rtn, l.rows, l.depth, h);
    rep.error = relative_output_error(w, q, l.rows, l.depth, h);
    if (rep.error > rep.error_rtn) q = rtn, rep.error = rep.error_rtn;  // never worse than rounding to nearest
    rounded[i] = weight_from_rows(l, q, weight.shape());
  });
  for (size_t i = 0; i < layers.size(); ++i) {
    log::debug("GPTQ ", reports[i].label, ": output error ", reports[i].error_rtn, " (RTN) -> ", reports[i].error);
    r.weights[layers[i].weight] = std::move(rounded[i]);
    r.layers.push_back(std::move(reports[i]));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace ptq::transform
