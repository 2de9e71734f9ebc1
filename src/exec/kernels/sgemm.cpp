// SPDX-License-Identifier: Apache-2.0
// Float GEMM through Eigen (single-threaded per call; parallelism comes from tiles, see sgemm.h).
// Tile policy (plan_tiles): column tiles of about kTileFloats / K columns (clamped to
// [kMinColTile, kMaxColTile], multiples of 16: the B tile stays in L2; Eigen measured 85-105 GFLOP/s
// per core here with 512-1024 columns, 65-75 with 128-256 when K is small), split only when N exceeds
// 1.5 tiles; rows split in tiles of at least kMinRowTile rows when there would be fewer than kMinTasks
// tiles. Products smaller than kSerialWork multiply-adds stay one tile.
#include "sgemm.h"

#include <Eigen/Core>
#include <algorithm>

#include "eltwise.h"
#include "parallel.h"

namespace ptq::exec {
namespace {

constexpr int64_t kTileFloats = int64_t{1} << 17;
constexpr int64_t kMinColTile = 256;
constexpr int64_t kMaxColTile = 1024;
constexpr int64_t kMinRowTile = 64;
constexpr int64_t kMinTasks = 4;
constexpr int64_t kSerialWork = int64_t{1} << 17;

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using MutMap = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

template <class A, class B>
void product(const A& a, const B& b, MutMap& c, float alpha) {
  if (alpha == 1.0f) c.noalias() += a * b;
  else c.noalias() += alpha * a * b;
}

// C += alpha * op(A) * op(B): dispatches the four transpose combinations to Eigen expressions.
void eigen_gemm(const ConstMap& a, bool ta, const ConstMap& b, bool tb, MutMap& c, float alpha) {
  if (!ta && !tb) product(a, b, c, alpha);
  else if (ta && !tb) product(a.transpose(), b, c, alpha);
  else if (!ta && tb) product(a, b.transpose(), c, alpha);
  else product(a.transpose(), b.transpose(), c, alpha);
}

}  // namespace

void apply_epilogue(const Epilogue& epi, int64_t m0, int64_t mc, int64_t n0, int64_t nc, float* c, int64_t ldc) {
  const bool post = epi.post && !epi.post->empty();
  if (!epi.row_bias && !epi.col_bias && !post) return;
  for (int64_t m = m0; m < m0 + mc; ++m) {
    float* row = c + m * ldc + n0;
    if (epi.row_bias) {
      const float v = epi.row_bias[m];
      for (int64_t j = 0; j < nc; ++j) row[j] += v;
    }
    if (epi.col_bias) {
      const float* cb = epi.col_bias + n0;
      for (int64_t j = 0; j < nc; ++j) row[j] += cb[j];
    }
    if (post) epi.post->apply(row, nc, epi.channel0 + m);
  }
}

void sgemm_tile(int64_t m0, int64_t mc, int64_t n0, int64_t nc, int64_t K, float alpha, const MatView& a,
                const MatView& b, float* c, int64_t ldc, bool accumulate, const Epilogue& epi) {
  if (mc <= 0 || nc <= 0) return;
  MutMap cm(c + m0 * ldc + n0, mc, nc, Eigen::OuterStride<>(ldc));
  Epilogue rest = epi;
  if (!accumulate) {
    // C starts as the row bias (or zero) and Eigen accumulates the product onto it: no separate
    // zero-fill and bias pass.
    for (int64_t m = 0; m < mc; ++m) {
      float* row = c + (m0 + m) * ldc + n0;
      std::fill(row, row + nc, epi.row_bias ? epi.row_bias[m0 + m] : 0.0f);
    }
    rest.row_bias = nullptr;
  }
  if (K > 0) {
    // Stored blocks: A is M x K (or K x M when transposed), B is K x N (or N x K).
    ConstMap am = a.trans ? ConstMap(a.data + m0, K, mc, Eigen::OuterStride<>(a.ld))
                          : ConstMap(a.data + m0 * a.ld, mc, K, Eigen::OuterStride<>(a.ld));
    ConstMap bm = b.trans ? ConstMap(b.data + n0 * b.ld, nc, K, Eigen::OuterStride<>(b.ld))
                          : ConstMap(b.data + n0, K, nc, Eigen::OuterStride<>(b.ld));
    eigen_gemm(am, a.trans, bm, b.trans, cm, alpha);
  }
  apply_epilogue(rest, m0, mc, n0, nc, c, ldc);
}

TilePlan plan_tiles(int64_t M, int64_t N, int64_t K, int64_t batches) {
  TilePlan p;
  p.m_tile = std::max<int64_t>(M, 1);
  p.n_tile = std::max<int64_t>(N, 1);
  if (M * N * std::max<int64_t>(K, 1) < kSerialWork) return p;
  const int64_t col_tile = std::min(kMaxColTile, std::max(kMinColTile, kTileFloats / std::max<int64_t>(K, 1) / 16 * 16));
  if (2 * N > 3 * col_tile) {
    p.n_tiles = ceil_div(N, col_tile);
    p.n_tile = round_up(ceil_div(N, p.n_tiles), 16);
    p.n_tiles = ceil_div(N, p.n_tile);
  }
  int64_t have = batches * p.n_tiles;
  if (have < kMinTasks && M >= 2 * kMinRowTile) {
    p.m_tiles = std::min(M / kMinRowTile, ceil_div(kMinTasks, have));
    p.m_tile = round_up(ceil_div(M, p.m_tiles), 8);
    p.m_tiles = ceil_div(M, p.m_tile);
  }
  return p;
}

void sgemm(int64_t M, int64_t N, int64_t K, float alpha, const MatView& a, const MatView& b, float* c, int64_t ldc,
           bool accumulate, const Epilogue& epi, int threads) {
  TilePlan plan = plan_tiles(M, N, K);
  parallel_for(threads, plan.count(), [&](int64_t t) {
    int64_t m0 = (t / plan.n_tiles) * plan.m_tile, n0 = (t % plan.n_tiles) * plan.n_tile;
    sgemm_tile(m0, std::min(plan.m_tile, M - m0), n0, std::min(plan.n_tile, N - n0), K, alpha, a, b, c, ldc,
               accumulate, epi);
  }, M * N * std::max<int64_t>(K, 1));
}

MatMulShape matmul_shape(const Shape& a_in, const Shape& b_in) {
  if (a_in.empty() || b_in.empty()) PTQ_FAIL(ModelError, "MatMul operands must have rank >= 1");
  MatMulShape s;
  Shape a = a_in, b = b_in;
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  s.M = a[a.size() - 2];
  s.K = a.back();
  s.N = b.back();
  if (b[b.size() - 2] != s.K) PTQ_FAIL(ModelError, "inner dims differ: A ", shape_str(a_in), ", B ", shape_str(b_in));
  s.a_batch.assign(a.begin(), a.end() - 2);
  s.b_batch.assign(b.begin(), b.end() - 2);
  s.batch = broadcast_shapes(s.a_batch, s.b_batch);
  s.out = s.batch;
  if (a_in.size() > 1) s.out.push_back(s.M);
  if (b_in.size() > 1) s.out.push_back(s.N);
  return s;
}

int64_t batch_offset(int64_t i, const Shape& out_batch, const Shape& dims) {
  int64_t off = 0, stride = 1;
  const size_t lead = out_batch.size() - dims.size();
  for (size_t k = out_batch.size(); k-- > 0;) {
    const int64_t idx = i % out_batch[k];
    i /= out_batch[k];
    if (k >= lead) {
      const int64_t d = dims[k - lead];
      if (d != 1) off += idx * stride;
      stride *= d;
    }
  }
  return off;
}

}  // namespace ptq::exec
