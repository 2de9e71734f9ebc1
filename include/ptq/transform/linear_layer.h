// SPDX-License-Identifier: Apache-2.0
// LinearLayer: a Conv, Gemm or MatMul with a constant float weight seen as `groups` independent matrix
// products, the view the data-driven weight transforms (AdaRound; GPTQ, AWQ to come) work in:
//
//   Y_g[o, p] = Σ_k W_g[o, k] · X_g[k, p]  (+ bias[g·rows + o])
//
// o an output channel of group g (`rows` per group), p a position, k one of the group's `depth` inputs.
//   Conv    W [M, C/G, k1..kn] (G groups): W_g = rows g·M/G .. of W flattened to [M/G, C/G·Πk]; a position
//           is (image n, output pixel) and X_g[:, p] the patch (im2col) of input channels g·C/G .. at p,
//           padding taps 0. Bias: input 2.
//   Gemm    Y = alpha·op(A)·op(B) + beta·C, B the weight: one group, W = op(B)ᵀ [N, K]; positions are the
//           rows of op(A), X[:, p] = alpha·op(A)[p, :]; bias beta·C when C is a constant of N (or 1) values.
//   MatMul  Y = A·B, B a 2-D weight [K, N]: W = Bᵀ; positions are A's rows (leading dims flattened).
// Row o of the whole layer (weight_rows) is output channel o, which is the weight's per-channel
// quantization axis (Conv 0, Gemm 0 with transB else 1, MatMul 1: channel_axis()).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ptq/ir/graph.h"

namespace ptq::transform {

struct LinearLayer {
  int node = -1;
  std::string op_type;
  std::string input, weight, bias, output;  // bias: "" when none
  int64_t groups = 1, rows = 0, depth = 0;  // rows and depth per group
  bool transposed = false;                  // weight stored [K, N], W = weightᵀ (Gemm transB = 0, MatMul)
  bool trans_a = false;                     // Gemm transA
  float alpha = 1.0f, beta = 1.0f;          // Gemm

  int64_t outputs() const { return groups * rows; }
  int channel_axis() const { return transposed ? 1 : 0; }
};

// The linear view of node `node`, or nullopt with *why_not saying why (Conv/Gemm/MatMul only; the weight
// a float32 constant of the expected rank; input 0 computed, not a constant; Gemm's C a constant of N or
// 1 values; MatMul's weight 2-D).
std::optional<LinearLayer> linear_layer(const Graph& graph, int node, std::string* why_not = nullptr);

// The weight as [outputs(), depth] row-major (row o: output channel o), and back to the weight's layout.
std::vector<float> weight_rows(const LinearLayer& layer, const Tensor& weight);
Tensor weight_from_rows(const LinearLayer& layer, const std::vector<float>& rows, const Shape& shape);
// The bias per output channel (beta·C for Gemm); zeros when the layer has none.
std::vector<float> bias_values(const LinearLayer& layer, const Graph& graph);

// One run's input or output of a layer seen as columns (Conv tensors are [N, C, spatial...]). Checks the
// tensor against the layer (dtype float32, channel count); throws DataError naming the node.
class ColumnView {
 public:
  enum class Role { Input, Output };
  ColumnView(const Graph& graph, const LinearLayer& layer, const Tensor& tensor, Role role);
  ~ColumnView();
  ColumnView(const ColumnView&) = delete;
  ColumnView& operator=(const ColumnView&) = delete;

  // Positions of the layer's matrix product (Conv: images · output pixels; Gemm/MatMul: rows).
  int64_t positions() const { return positions_; }
  // Positions of the tensor itself (Conv: images · its own pixels; Gemm/MatMul: rows).
  int64_t tensor_positions() const { return tensor_positions_; }
  // Input: X_g[:, p] (depth floats), the im2col patch for Conv.
  void patch(int64_t group, int64_t p, float* out) const;
  // Input: the channel vector at one of the tensor's own positions, group g's C/G channels (Conv) or the
  // row (Gemm/MatMul, times alpha): X without im2col, e.g. for per-channel input statistics.
  void channels(int64_t group, int64_t p, float* out) const;
  // Output: group g's `rows` channels at position p.
  void outputs(int64_t group, int64_t p, float* out) const;

 private:
  struct Geometry;
  const LinearLayer& layer_;
  const Tensor& tensor_;
  int64_t positions_ = 0, tensor_positions_ = 0;
  int64_t channels_ = 0, spatial_ = 0;  // channels of the tensor, and pixels per image (Conv)
  int64_t stride_ = 1;                  // Gemm with transA: distance between a row's elements
  std::unique_ptr<Geometry> geometry_;  // Conv input: the window
};

}  // namespace ptq::transform
