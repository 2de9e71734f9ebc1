// SPDX-License-Identifier: Apache-2.0
// Float GEMM shared by Conv, ConvTranspose, Gemm, MatMul and the RNNs: Eigen's GEMM on row-major
// views, called per output tile. Without `accumulate`, C starts as the row bias (or zero) and
// C += alpha * op(A)[M x K] * op(B)[K x N]; with it, C += alpha * op(A) * op(B), then + row_bias[m].
// Then + col_bias[n], then the fused post-ops of row m (channel channel0 + m).
//
// Tiles come from the shape only (plan_tiles), so a result never depends on the thread count: each
// tile is one Eigen call computing the same numbers whichever thread runs it.
#pragma once

#include <cstdint>

#include "ptq/ir/tensor.h"

#include "post_ops.h"

namespace ptq::exec {

// A row-major matrix view: element (r, c) of the stored matrix is data[r * ld + c]. With trans set
// the operand is the transpose of the stored matrix.
struct MatView {
  const float* data = nullptr;
  int64_t ld = 0;
  bool trans = false;
};

struct Epilogue {
  const float* row_bias = nullptr;  // M values, or nullptr
  const float* col_bias = nullptr;  // N values, or nullptr
  const PostOps* post = nullptr;    // fused element-wise ops, or nullptr
  int64_t channel0 = 0;             // channel of row 0 for per-channel post-ops
};

// One GEMM on one thread: rows [m0, m0+mc) and columns [n0, n0+nc) of C.
void sgemm_tile(int64_t m0, int64_t mc, int64_t n0, int64_t nc, int64_t K, float alpha, const MatView& a,
                const MatView& b, float* c, int64_t ldc, bool accumulate, const Epilogue& epi);

// Output tiling of an M x N result: tile sizes from the shape only.
struct TilePlan {
  int64_t m_tile = 1, n_tile = 1;
  int64_t m_tiles = 1, n_tiles = 1;
  int64_t count() const { return m_tiles * n_tiles; }
};
// `batches` independent GEMMs of this shape run side by side (they add parallelism, so fewer tiles are
// needed per GEMM).
TilePlan plan_tiles(int64_t M, int64_t N, int64_t K, int64_t batches = 1);

// The whole product, tiles spread over `threads`.
void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const MatView& a, const MatView& b, float* c, int64_t ldc,
           bool accumulate, const Epilogue& epi, int threads);

// Applies the epilogue to rows [m0, m0+mc), columns [n0, n0+nc) of C.
void apply_epilogue(const Epilogue& epi, int64_t m0, int64_t mc, int64_t n0, int64_t nc, float* c, int64_t ldc);

// Shapes of a numpy matmul (MatMul, MatMulInteger): 1-D operands get a unit dim that the output
// drops again; batch dims broadcast; matrices M x K times K x N.
struct MatMulShape {
  Shape batch, a_batch, b_batch, out;
  int64_t M = 1, K = 1, N = 1;
};
MatMulShape matmul_shape(const Shape& a, const Shape& b);
// Offset, in matrices, of entry `i` of the broadcast batch inside an operand with batch dims `dims`.
int64_t batch_offset(int64_t i, const Shape& out_batch, const Shape& dims);

}  // namespace ptq::exec
