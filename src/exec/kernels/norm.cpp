// SPDX-License-Identifier: Apache-2.0
// Normalizations, float32:
//   BatchNormalization (opsets 1-15), inference: per channel c,
//     a = scale[c] / sqrt(var[c] + epsilon), b = B[c] - mean[c] * a, y = x * a + b   (ONNX Runtime's form).
//     Training mode (opset 14+, training_mode = 1) normalizes with the batch statistics (population
//     variance over N and the spatial dims) and returns running_mean = mean * momentum +
//     batch_mean * (1 - momentum), and running_var likewise.
//     spatial = 0 (opsets < 9) is rejected.
//   InstanceNormalization (opsets 1, 6): per (n, c) plane, y = scale[c] * (x - mean) / sqrt(var + eps) + B[c].
//   LayerNormalization (opset 17): over the dims from `axis` on; y = (x - mean) * inv_std * Scale + B
//     with inv_std = 1 / sqrt(var + epsilon); optional outputs Mean and InvStdDev of shape
//     X.shape[:axis] + [1] * (rank - axis). Scale and B hold the normalized shape's values (or one).
// Means and variances accumulate in double (two passes: mean, then squared deviations).
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace ptq::exec {
namespace {

void check_float(const Tensor* t) {
  if (t && t->dtype() != DType::Float32) PTQ_FAIL(UnsupportedError, "dtype ", dtype_name(t->dtype()), " is not supported (float32 is)");
}

void check_channels(const Tensor& t, int64_t C, const char* what) {
  if (t.numel() != C) PTQ_FAIL(ModelError, what, " of shape ", shape_str(t.shape()), " does not have ", C, " values");
}

// Mean and population variance of n values.
void moments(const float* p, int64_t n, double& mean, double& var) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  mean = n > 0 ? s / static_cast<double>(n) : 0.0;
  double q = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = p[i] - mean;
    q += d * d;
  }
  var = n > 0 ? q / static_cast<double>(n) : 0.0;
}

// y = x * a[c] + b[c] over an [N, C, S] layout.
void affine_channels(const float* x, float* y, int64_t N, int64_t C, int64_t S, const float* a, const float* b, int threads) {
  parallel_for(threads, N * C, [&](int64_t p) {
    const int64_t c = p % C;
    const float av = a[c], bv = b[c];
    const float* xs = x + p * S;
    float* ys = y + p * S;
    for (int64_t i = 0; i < S; ++i) ys[i] = xs[i] * av + bv;
  }, N * C * S);
}

// Per-channel batch mean and population variance over N and the spatial dims.
void batch_moments(const float* x, int64_t N, int64_t C, int64_t S, std::vector<float>& mean, std::vector<float>& var) {
  mean.assign(static_cast<size_t>(C), 0.0f);
  var.assign(static_cast<size_t>(C), 0.0f);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0.0, q = 0.0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) s += x[(n * C + c) * S + i];
    const double m = s / static_cast<double>(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        const double d = x[(n * C + c) * S + i] - m;
        q += d * d;
      }
    mean[static_cast<size_t>(c)] = static_cast<float>(m);
    var[static_cast<size_t>(c)] = static_cast<float>(q / static_cast<double>(N * S));
  }
}

}  // namespace

Kernel make_batch_normalization(const Node& node) {
  expect_inputs(node, 5, 5);
  if (node.opset < 9 && node.attr_int("spatial", 1) == 0) PTQ_FAIL(UnsupportedError, "spatial = 0 is not supported");
  const float eps = node.attr_float("epsilon", 1e-5f), momentum = node.attr_float("momentum", 0.9f);
  const bool training = node.opset >= 14 && node.attr_int("training_mode", 0) != 0;
  size_t outputs = 0;
  for (const auto& o : node.outputs) outputs += o.empty() ? 0 : 1;
  if (!training && outputs > 1) PTQ_FAIL(UnsupportedError, "training outputs (mean, var, saved statistics) are not supported");
  return [eps, momentum, training](KernelIO& io) {
    const Tensor& x = io.in(0);
    for (size_t i = 0; i < 5; ++i) check_float(&io.in(i));
    if (x.rank() < 2) PTQ_FAIL(ModelError, "input must have rank >= 2, got ", shape_str(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), S = N * C == 0 ? 0 : x.numel() / (N * C);
    const char* names[] = {"", "scale", "B", "input_mean", "input_var"};
    for (size_t i = 1; i < 5; ++i) check_channels(io.in(i), C, names[i]);
    const float* scale = io.in(1).data<float>();
    const float* bias = io.in(2).data<float>();
    std::vector<float> mean(io.in(3).data<float>(), io.in(3).data<float>() + C);
    std::vector<float> var(io.in(4).data<float>(), io.in(4).data<float>() + C);
    if (training) batch_moments(x.data<float>(), N, C, S, mean, var);
    std::vector<float> a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    for (size_t c = 0; c < static_cast<size_t>(C); ++c) {
      a[c] = scale[c] * (1.0f / std::sqrt(var[c] + eps));
      b[c] = bias[c] - mean[c] * a[c];
    }
    io.outputs[0] = Tensor(DType::Float32, x.shape());
    affine_channels(x.data<float>(), io.outputs[0].data<float>(), N, C, S, a.data(), b.data(), io.threads);
    if (!training) return;
    const float* in_mean = io.in(3).data<float>();
    const float* in_var = io.in(4).data<float>();
    for (size_t k = 1; k < io.outputs.size() && k < 3; ++k) {
      io.outputs[k] = Tensor(DType::Float32, {C});
      float* o = io.outputs[k].data<float>();
      const float* running = k == 1 ? in_mean : in_var;
      const std::vector<float>& batch = k == 1 ? mean : var;
      for (size_t c = 0; c < static_cast<size_t>(C); ++c) o[c] = running[c] * momentum + batch[c] * (1.0f - momentum);
    }
  };
}

Kernel make_instance_normalization(const Node& node) {
  expect_inputs(node, 3, 3);
  const float eps = node.attr_float("epsilon", 1e-5f);
  return [eps](KernelIO& io) {
    const Tensor& x = io.in(0);
    for (size_t i = 0; i < 3; ++i) check_float(&io.in(i));
    if (x.rank() < 3) PTQ_FAIL(ModelError, "input must have rank >= 3, got ", shape_str(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), S = N * C == 0 ? 0 : x.numel() / (N * C);
    check_channels(io.in(1), C, "scale");
    check_channels(io.in(2), C, "B");
    const float* scale = io.in(1).data<float>();
    const float* bias = io.in(2).data<float>();
    io.outputs[0] = Tensor(DType::Float32, x.shape());
    const float* xp = x.data<float>();
    float* yp = io.outputs[0].data<float>();
    parallel_for(io.threads, N * C, [&](int64_t p) {
      double mean, var;
      moments(xp + p * S, S, mean, var);
      const int64_t c = p % C;
      const float a = scale[c] / static_cast<float>(std::sqrt(var + eps));
      const float b = bias[c] - static_cast<float>(mean) * a;
      for (int64_t i = 0; i < S; ++i) yp[p * S + i] = xp[p * S + i] * a + b;
    }, x.numel() * 3);
  };
}

namespace {

// Scale/B values over the normalized block: `inner` values, or one broadcast value.
std::vector<float> normalized_param(const Tensor* t, int64_t inner, float fallback, const char* what) {
  if (!t) return std::vector<float>(static_cast<size_t>(inner), fallback);
  check_float(t);
  if (t->numel() == inner) return t->to_vector<float>();
  if (t->numel() == 1) return std::vector<float>(static_cast<size_t>(inner), t->data<float>()[0]);
  PTQ_FAIL(UnsupportedError, what, " of shape ", shape_str(t->shape()), " does not match the normalized size ", inner);
}

}  // namespace

Kernel make_layer_normalization(const Node& node) {
  expect_inputs(node, 2, 3);
  const int64_t axis_attr = node.attr_int("axis", -1);
  const float eps = node.attr_float("epsilon", 1e-5f);
  return [axis_attr, eps](KernelIO& io) {
    const Tensor& x = io.in(0);
    check_float(&x);
    const int64_t rank = x.rank(), axis = axis_attr < 0 ? axis_attr + rank : axis_attr;
    if (axis < 0 || axis >= rank) PTQ_FAIL(ModelError, "axis ", axis_attr, " is out of range for rank ", rank);
    int64_t outer = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
    const int64_t inner = outer == 0 ? 0 : x.numel() / outer;
    const std::vector<float> scale = normalized_param(&io.in(1), inner, 1.0f, "Scale");
    const std::vector<float> bias = normalized_param(io.has(2) ? io.inputs[2] : nullptr, inner, 0.0f, "B");
    io.outputs[0] = Tensor(DType::Float32, x.shape());
    Shape stat_shape(x.shape().begin(), x.shape().begin() + axis);
    stat_shape.resize(static_cast<size_t>(rank), 1);
    float* stats[2] = {nullptr, nullptr};
    for (size_t k = 1; k < io.outputs.size() && k < 3; ++k) {
      io.outputs[k] = Tensor(DType::Float32, stat_shape);
      stats[k - 1] = io.outputs[k].data<float>();
    }
    const float* xp = x.data<float>();
    float* yp = io.outputs[0].data<float>();
    parallel_for(io.threads, outer, [&](int64_t r) {
      double mean, var;
      moments(xp + r * inner, inner, mean, var);
      const float m = static_cast<float>(mean), inv = static_cast<float>(1.0 / std::sqrt(var + eps));
      if (stats[0]) stats[0][r] = m;
      if (stats[1]) stats[1][r] = inv;
      for (int64_t i = 0; i < inner; ++i)
        yp[r * inner + i] = (xp[r * inner + i] - m) * inv * scale[static_cast<size_t>(i)] + bias[static_cast<size_t>(i)];
    }, x.numel() * 3);
  };
}

}  // namespace ptq::exec
