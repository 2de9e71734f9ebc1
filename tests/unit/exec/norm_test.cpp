// SPDX-License-Identifier: Apache-2.0
// BatchNormalization (inference and training mode), InstanceNormalization and LayerNormalization
// (every axis, Mean/InvStdDev outputs) against the ONNX formulas evaluated in double here.
#include <cmath>

#include "op_runner.h"

using namespace ptq;
using test::OpCase;

namespace {

constexpr float kTol = 1e-4f;  // float normalizations vs double references

}  // namespace

TEST(BatchNormalization, InferenceFormula) {
  const int64_t N = 2, C = 5, S = 13 * 7;
  Tensor x = test::random_tensor({N, C, 13, 7}, 1, -3.0f, 3.0f);
  Tensor scale = test::random_tensor({C}, 2), bias = test::random_tensor({C}, 3), mean = test::random_tensor({C}, 4);
  Tensor var = test::random_tensor({C}, 5, 0.1f, 2.0f);
  OpCase op;
  op.node = "y = BatchNormalization <epsilon = 0.01> (x, s, b, m, v)";
  op.inputs = {{"x", x}, {"s", scale}, {"b", bias}, {"m", mean}, {"v", var}};
  op.outputs = {{"y", DType::Float32}};
  std::vector<float> want;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) {
        double xv = x.data<float>()[(n * C + c) * S + i];
        want.push_back(static_cast<float>((xv - mean.data<float>()[c]) / std::sqrt(var.data<float>()[c] + 0.01) * scale.data<float>()[c] + bias.data<float>()[c]));
      }
  test::expect_near_all(test::run_op(op)[0], want, kTol, op.node);
}

TEST(BatchNormalization, TrainingModeRunningStatistics) {
  const int64_t N = 3, C = 2, S = 4;
  Tensor x = test::random_tensor({N, C, S}, 6, -2.0f, 2.0f);
  Tensor scale = test::random_tensor({C}, 7), bias = test::random_tensor({C}, 8), mean = test::random_tensor({C}, 9);
  Tensor var = test::random_tensor({C}, 10, 0.1f, 2.0f);
  OpCase op;
  op.opsets = "\"\" : 15";
  op.node = "y, rm, rv = BatchNormalization <epsilon = 0.001, momentum = 0.8, training_mode = 1> (x, s, b, m, v)";
  op.inputs = {{"x", x}, {"s", scale}, {"b", bias}, {"m", mean}, {"v", var}};
  op.outputs = {{"y", DType::Float32}, {"rm", DType::Float32}, {"rv", DType::Float32}};
  auto out = test::run_op(op);
  std::vector<float> want_y(static_cast<size_t>(N * C * S)), want_m, want_v;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) sum += x.data<float>()[(n * C + c) * S + i];
    double bm = sum / (N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) sq += std::pow(x.data<float>()[(n * C + c) * S + i] - bm, 2);
    double bv = sq / (N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < S; ++i) {
        size_t k = static_cast<size_t>((n * C + c) * S + i);
        want_y[k] = static_cast<float>((x.data<float>()[k] - bm) / std::sqrt(bv + 0.001) * scale.data<float>()[c] + bias.data<float>()[c]);
      }
    want_m.push_back(static_cast<float>(mean.data<float>()[c] * 0.8 + bm * 0.2));
    want_v.push_back(static_cast<float>(var.data<float>()[c] * 0.8 + bv * 0.2));
  }
  test::expect_near_all(out[0], want_y, kTol, "y");
  test::expect_near_all(out[1], want_m, kTol, "running_mean");
  test::expect_near_all(out[2], want_v, kTol, "running_var");
}

TEST(InstanceNormalization, PerPlaneStatistics) {
  const int64_t N = 2, C = 3, S = 13 * 5;
  Tensor x = test::random_tensor({N, C, 13, 5}, 11, -2.0f, 5.0f), scale = test::random_tensor({C}, 12), bias = test::random_tensor({C}, 13);
  OpCase op;
  op.node = "y = InstanceNormalization <epsilon = 0.001> (x, s, b)";
  op.inputs = {{"x", x}, {"s", scale}, {"b", bias}};
  op.outputs = {{"y", DType::Float32}};
  std::vector<float> want;
  for (int64_t p = 0; p < N * C; ++p) {
    const float* xs = x.data<float>() + p * S;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < S; ++i) mean += xs[i];
    mean /= S;
    for (int64_t i = 0; i < S; ++i) var += (xs[i] - mean) * (xs[i] - mean);
    var /= S;
    for (int64_t i = 0; i < S; ++i)
      want.push_back(static_cast<float>(scale.data<float>()[p % C] * (xs[i] - mean) / std::sqrt(var + 0.001) + bias.data<float>()[p % C]));
  }
  test::expect_near_all(test::run_op(op, 2)[0], want, kTol, op.node);
}

TEST(LayerNormalization, EveryAxisWithStatistics) {
  const Shape shape{2, 3, 5, 7};
  Tensor x = test::random_tensor(shape, 14, -3.0f, 4.0f);
  for (int64_t axis : {-1, 1, 2, 3, 0, -3}) {
    const int64_t a = axis < 0 ? axis + 4 : axis;
    Shape norm(shape.begin() + a, shape.end());
    const int64_t inner = shape_numel(norm), outer = x.numel() / inner;
    Tensor scale = test::random_tensor(norm, 15), bias = test::random_tensor(norm, 16);
    OpCase op;
    op.opsets = "\"\" : 17";
    op.node = "y, mean, inv = LayerNormalization <axis = " + std::to_string(axis) + ", epsilon = 0.0001> (x, s, b)";
    op.inputs = {{"x", x}, {"s", scale}, {"b", bias}};
    op.outputs = {{"y", DType::Float32}, {"mean", DType::Float32}, {"inv", DType::Float32}};
    auto out = test::run_op(op);
    std::vector<float> want_y, want_m, want_i;
    for (int64_t r = 0; r < outer; ++r) {
      const float* xs = x.data<float>() + r * inner;
      double mean = 0, var = 0;
      for (int64_t i = 0; i < inner; ++i) mean += xs[i];
      mean /= inner;
      for (int64_t i = 0; i < inner; ++i) var += (xs[i] - mean) * (xs[i] - mean);
      double inv = 1.0 / std::sqrt(var / inner + 0.0001);
      for (int64_t i = 0; i < inner; ++i) want_y.push_back(static_cast<float>((xs[i] - mean) * inv * scale.data<float>()[i] + bias.data<float>()[i]));
      want_m.push_back(static_cast<float>(mean));
      want_i.push_back(static_cast<float>(inv));
    }
    Shape stat(shape.begin(), shape.begin() + a);
    stat.resize(4, 1);
    EXPECT_EQ(out[1].shape(), stat) << axis;
    test::expect_near_all(out[0], want_y, kTol, "y axis " + std::to_string(axis));
    test::expect_near_all(out[1], want_m, kTol, "mean axis " + std::to_string(axis));
    test::expect_near_all(out[2], want_i, kTol, "inv_std axis " + std::to_string(axis));
  }
}
